# One job per (trajectory, algorithm, seed, step). Follow and Predict share the examinee
# trajectory fed by the real historical models ("history"); Coevolve's is fed by its
# simulated humans. Trained checkpoints are temp(): deleted once the next step and the
# evaluation have used them.
RUN = "results/runs/{traj}/{algorithm}/seed{seed}"
COEVOLVE = "results/runs/coevolve/{algorithm}/seed{seed}"


wildcard_constraints:
    traj="history|coevolve",
    step=r"\d+",
    seed=r"\d+",
    century=r"C0\d\d",


def feedback_input(w):
    t = int(w.step)
    if w.traj == "history":
        return f"results/preferences/{FAMILY}/{CENTURIES[t]}.jsonl"
    if t == 1:  # the simulated humans start as the first century's model
        return f"results/preferences/{FAMILY}/{CENTURIES[0]}.jsonl"
    return f"{COEVOLVE.format(**w)}/feedback{t}.jsonl"


def previous_input(w):
    t = int(w.step)
    if t == 1:
        return {"start": model_dir(CENTURIES[0])}
    d = f"{run_dir(w)}/step{t - 1}"
    return {"start": f"{d}/model", "state": f"{d}/state.json"}


rule examinee_step:
    input:
        unpack(previous_input),
        feedback=feedback_input,
        questionnaire=f"{QDIR}/items.jsonl",
        initial=model_dir(CENTURIES[0]),
    output:
        model=temp(directory(f"{RUN}/step{{step}}/model")),
        state=f"{RUN}/step{{step}}/state.json",
        info=f"{RUN}/step{{step}}/step.json",
    log:
        f"logs/{RUN}/step{{step}}.log",
    benchmark:
        f"benchmarks/out/{RUN}/step{{step}}.tsv"
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        algorithm=lambda w: ALGORITHMS[w.algorithm],
        previous=lambda w: (
            f"--previous {run_dir(w)}/step{int(w.step) - 1}" if int(w.step) > 1 else ""
        ),
    shell:
        "progalign step examinee --algorithm {params.algorithm:q} --seed {wildcards.seed}"
        " --step {wildcards.step} {params.previous} --feedback {input.feedback}"
        " --out $(dirname {output.state}) {SPEC} --threads {threads} > {log} 2>&1"


rule examinee_values:
    input:
        questionnaire=f"{QDIR}/items.jsonl",
        model=f"{RUN}/step{{step}}/model",
    output:
        f"{RUN}/values{{step}}.json",
    log:
        f"logs/{RUN}/values{{step}}.log",
    benchmark:
        f"benchmarks/out/{RUN}/values{{step}}.tsv"
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        args=VALUES_ARGS,
    shell:
        "progalign values --model {input.model} --questionnaire {QDIR} {params.args}"
        " --threads {threads} --out {output} 2> {log}"


rule coevolve_feedback:
    input:
        questionnaire=f"{QDIR}/items.jsonl",
        human=lambda w: f"{COEVOLVE.format(**w)}/humans{int(w.step) - 1}/model",
    output:
        f"{COEVOLVE}/feedback{{step}}.jsonl",
    log:
        f"logs/{COEVOLVE}/feedback{{step}}.log",
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    shell:
        "progalign preferences --human {input.human} --out {output} {SPEC}"
        " --threads {threads} 2> {log}"


def human_input(w):
    t = int(w.step)
    if t == 1:
        return model_dir(CENTURIES[0])
    return f"{COEVOLVE.format(**w)}/humans{t - 1}/model"


rule humans_step:
    input:
        questionnaire=f"{QDIR}/items.jsonl",
        human=human_input,
        history=lambda w: f"results/answers/{FAMILY}/{CENTURIES[int(w.step)]}.jsonl",
        examinee=f"{COEVOLVE}/step{{step}}/model",
    output:
        model=temp(directory(f"{COEVOLVE}/humans{{step}}/model")),
        info=f"{COEVOLVE}/humans{{step}}/humans.json",
    log:
        f"logs/{COEVOLVE}/humans{{step}}.log",
    benchmark:
        f"benchmarks/out/{COEVOLVE}/humans{{step}}.tsv"
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    shell:
        "progalign step humans --seed {wildcards.seed} --step {wildcards.step}"
        " --human {input.human} --history-answers {input.history}"
        " --examinee {input.examinee} --out $(dirname {output.info}) {SPEC}"
        " --threads {threads} > {log} 2>&1"


rule humans_values:
    input:
        questionnaire=f"{QDIR}/items.jsonl",
        model=f"{COEVOLVE}/humans{{step}}/model",
    output:
        f"{COEVOLVE}/humans{{step}}.values.json",
    log:
        f"logs/{COEVOLVE}/humans{{step}}.values.log",
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        args=VALUES_ARGS,
    shell:
        "progalign values --model {input.model} --questionnaire {QDIR} {params.args}"
        " --threads {threads} --out {output} 2> {log}"


def score_inputs(w):
    traj = trajectory(w.challenge)
    d = f"results/runs/{traj}/{w.algorithm}/seed{w.seed}"
    steps = evaluated_steps(w.challenge)
    inputs = {
        "actual": [f"results/values/{FAMILY}/{c}.json" for c in CENTURIES],
        "info": [f"{d}/step{t}/step.json" for t in steps],
    }
    if traj == "history":
        inputs["examinee"] = [f"{d}/values{t}.json" for t in steps]
    else:
        inputs["simulated"] = [f"{d}/humans{t}.values.json" for t in steps]
    return inputs


def score_args(w, input):
    args = [f"--actual {c}={p}" for c, p in zip(CENTURIES, input.actual)]
    if trajectory(w.challenge) == "history":
        steps = evaluated_steps(w.challenge)
        args += [f"--examinee {t}={p}" for t, p in zip(steps, input.examinee)]
    else:
        args += [f"--simulated {p}" for p in input.simulated]
    return " ".join(args + ["--steps"] + [os.path.dirname(p) for p in input.info])


rule score:
    input:
        unpack(score_inputs),
        questionnaire=f"{QDIR}/items.jsonl",
    output:
        "results/scores/{challenge}/{algorithm}/seed{seed}.json",
    log:
        "logs/scores/{challenge}/{algorithm}/seed{seed}.log",
    params:
        challenge=lambda w: CHALLENGE_NAMES[w.challenge],
        algorithm=lambda w: ALGORITHMS[w.algorithm],
        args=score_args,
    shell:
        "progalign score --challenge {params.challenge:q} --algorithm {params.algorithm:q}"
        " --seed {wildcards.seed} {params.args} {SPEC} --out {output} 2> {log}"
