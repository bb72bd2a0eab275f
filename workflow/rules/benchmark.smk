# One job per (trajectory, algorithm, seed, step). Follow and Predict share the examinee
# trajectory fed by the real historical models ("history"); Coevolve's is fed by its
# simulated humans. Trained checkpoints are temp(): deleted once the next step and the
# evaluation have used them.


wildcard_constraints:
    traj="history|coevolve",
    step=r"\d+",
    seed=r"\d+",
    century=r"C0\d\d",


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
        f"logs/{RUN_TAG}/step{{step}}.log",
    benchmark:
        f"benchmarks/out/{RUN_TAG}/step{{step}}.tsv"
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        spec=SPEC,
        algorithm=lambda w: ALGORITHMS[w.algorithm],
        previous=lambda w: (
            f"--previous {run_dir(w)}/step{int(w.step) - 1}" if int(w.step) > 1 else ""
        ),
    shell:
        "progalign step examinee --algorithm {params.algorithm:q} --seed {wildcards.seed}"
        " --step {wildcards.step} {params.previous} --feedback {input.feedback}"
        " --out $(dirname {output.state}) {params.spec} --threads {threads} > {log} 2>&1"


rule examinee_values:
    input:
        questionnaire=f"{QDIR}/items.jsonl",
        model=f"{RUN}/step{{step}}/model",
    output:
        f"{RUN}/values{{step}}.json",
    log:
        f"logs/{RUN_TAG}/values{{step}}.log",
    benchmark:
        f"benchmarks/out/{RUN_TAG}/values{{step}}.tsv"
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        args=VALUES_ARGS,
    shell:
        "progalign values --model {input.model} --questionnaire $(dirname {input.questionnaire}) {params.args}"
        " --threads {threads} --out {output} 2> {log}"


rule coevolve_feedback:
    input:
        questionnaire=f"{QDIR}/items.jsonl",
        human=lambda w: f"{COEVOLVE.format(**w)}/humans{int(w.step) - 1}/model",
    output:
        f"{COEVOLVE}/feedback{{step}}.jsonl",
    log:
        f"logs/{COEVOLVE_TAG}/feedback{{step}}.log",
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        spec=SPEC,
    shell:
        "progalign preferences --human {input.human} --out {output} {params.spec}"
        " --threads {threads} 2> {log}"


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
        f"logs/{COEVOLVE_TAG}/humans{{step}}.log",
    benchmark:
        f"benchmarks/out/{COEVOLVE_TAG}/humans{{step}}.tsv"
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        spec=SPEC,
    shell:
        "progalign step humans --seed {wildcards.seed} --step {wildcards.step}"
        " --human {input.human} --history-answers {input.history}"
        " --examinee {input.examinee} --out $(dirname {output.info}) {params.spec}"
        " --threads {threads} > {log} 2>&1"


rule humans_values:
    input:
        questionnaire=f"{QDIR}/items.jsonl",
        model=f"{COEVOLVE}/humans{{step}}/model",
    output:
        f"{COEVOLVE}/humans{{step}}.values.json",
    log:
        f"logs/{COEVOLVE_TAG}/humans{{step}}.values.log",
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        args=VALUES_ARGS,
    shell:
        "progalign values --model {input.model} --questionnaire $(dirname {input.questionnaire}) {params.args}"
        " --threads {threads} --out {output} 2> {log}"


rule score:
    input:
        unpack(score_inputs),
        questionnaire=f"{QDIR}/items.jsonl",
    output:
        "results/scores/{challenge}/{algorithm}/seed{seed}.json",
    log:
        "logs/scores/{challenge}/{algorithm}/seed{seed}.log",
    params:
        spec=SPEC,
        challenge=lambda w: CHALLENGE_NAMES[w.challenge],
        algorithm=lambda w: ALGORITHMS[w.algorithm],
        args=score_args,
    shell:
        "progalign score --challenge {params.challenge:q} --algorithm {params.algorithm:q}"
        " --seed {wildcards.seed} {params.args} {params.spec} --out {output} 2> {log}"
