# One job per (trajectory, algorithm, seed, step). Follow and Predict share the examinee
# trajectory fed by the real historical models ("history"); Coevolve's is fed by its
# simulated humans. Trained checkpoints are temp(): deleted once the next step and the
# evaluation have used them.


wildcard_constraints:
    traj="|".join(["history", *SIMULATED]),
    step=r"\d+",
    seed=r"\d+",
    century=r"C0\d\d",


# The examinee steps of the history trajectory also evaluate the updated model (in the same
# process, while it is loaded); Coevolve's examinee is judged through its simulated humans.
rule examinee_step:
    input:
        unpack(previous_input),
        feedback=feedback_input,
        questionnaire=f"{QDIR}/items.jsonl",
        initial=str(TIMELINE.start),
    output:
        model=temp(directory(f"{STEP}/model")),
        state=f"{STEP}/state.json",
        info=f"{STEP}/step.json",
    log:
        f"logs/{RUN_TAG}/step{{step}}.log",
    benchmark:
        f"measurements/out/{RUN_TAG}/step{{step}}.tsv"
    wildcard_constraints:
        traj=SIMULATED_TRAJ,
    container:
        rule_image("examinee_step")
    threads: planned("examinee_step", "threads")
    resources:
        **planned_resources("examinee_step"),
    params:
        spec=SPEC,
        plan=planned("examinee_step", "arguments"),
        algorithm=lambda w: ALGORITHMS[w.algorithm],
        previous=previous_arg,
        values="",
    shell:
        "progalign step examinee --algorithm {params.algorithm:q} --seed {wildcards.seed}"
        " --step {wildcards.step} {params.previous} --feedback {input.feedback}"
        " --out $(dirname {output.state}) {params.values} {params.spec}"
        " --threads {threads}{params.plan} > {log} 2>&1"


use rule examinee_step as history_step with:
    output:
        model=temp(directory(f"{STEP}/model")),
        state=f"{STEP}/state.json",
        info=f"{STEP}/step.json",
        values=STEP_VALUES,
    wildcard_constraints:
        traj="history",
    container:
        rule_image("history_step")
    threads: planned("history_step", "threads")
    resources:
        **planned_resources("history_step"),
    params:
        spec=SPEC,
        plan=planned("history_step", "arguments"),
        algorithm=lambda w: ALGORITHMS[w.algorithm],
        previous=previous_arg,
        values=lambda w, output: f"--values {output.values}",


# H_t <- SFT(H_{t-1}, answers of M_t) then SFT(·, the examinee's answers); the same job
# evaluates H_t and, except at the last step, elicits its preferences: the examinee's next
# feedback.
rule humans_step:
    input:
        questionnaire=f"{QDIR}/items.jsonl",
        human=human_input,
        history=history_answers_input,
        examinee=f"{STEP}/model",
    output:
        model=temp(directory(f"{HUMANS}/model")),
        info=f"{HUMANS}/humans.json",
        values=HUMANS_VALUES,
    log:
        f"logs/{RUN_TAG}/humans{{step}}.log",
    benchmark:
        f"measurements/out/{RUN_TAG}/humans{{step}}.tsv"
    wildcard_constraints:
        traj=SIMULATED_TRAJ,
        step=LAST_STEP,
    container:
        rule_image("humans_step")
    threads: planned("humans_step", "threads")
    resources:
        **planned_resources("humans_step"),
    params:
        spec=SPEC,
        plan=planned("humans_step", "arguments"),
        challenge=lambda w: SIMULATED[w.traj],
        elicit="",
    shell:
        "progalign step humans --challenge {params.challenge:q} --seed {wildcards.seed}"
        " --step {wildcards.step}"
        " --human {input.human} --history-answers {input.history}"
        " --examinee {input.examinee} --out $(dirname {output.info})"
        " --values {output.values} {params.elicit} {params.spec}"
        " --threads {threads}{params.plan} > {log} 2>&1"


use rule humans_step as humans_step_feedback with:
    output:
        model=temp(directory(f"{HUMANS}/model")),
        info=f"{HUMANS}/humans.json",
        values=HUMANS_VALUES,
        feedback=HUMANS_FEEDBACK,
    wildcard_constraints:
        step=EARLIER_STEPS,
    container:
        rule_image("humans_step_feedback")
    threads: planned("humans_step_feedback", "threads")
    resources:
        **planned_resources("humans_step_feedback"),
    params:
        spec=SPEC,
        plan=planned("humans_step_feedback", "arguments"),
        challenge=lambda w: SIMULATED[w.traj],
        elicit=lambda w, output: f"--elicit {output.feedback}",


rule score:
    input:
        unpack(score_inputs),
        questionnaire=f"{QDIR}/items.jsonl",
    output:
        SCORE,
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
