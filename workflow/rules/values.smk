# Questionnaire and value vectors: every historical model evaluated once, shared by all runs.


rule questionnaire:
    output:
        jsonl=f"{QDIR}/items.jsonl",
    log:
        "logs/questionnaire.log",
    params:
        protocol=config["questionnaire"]["protocol"],
        subsample=(
            f"--per-dimension {config['questionnaire']['per_dimension']}"
            if config["questionnaire"]["per_dimension"]
            else ""
        ),
        seed=config["questionnaire"]["seed"],
    shell:
        "progalign questionnaire fetch --protocol {params.protocol} --seed {params.seed}"
        " {params.subsample} --out $(dirname {output.jsonl}) 2> {log}"


VALUES_ARGS = (
    (
        "--backend {ev[backend]} --mode {ev[mode]} --scoring {ev[scoring]}"
        " --permutations {ev[permutations]} --format {ev[prompt_format]}"
        " --aggregation {ev[aggregation]} --bootstrap {ev[bootstrap]} --seed {ev[seed]}"
        " --batch-size {ev[batch_size]}"
    ).format(ev=config["evaluation"])
    + (
        f" --top-k-layers {config['training']['top_k_layers']}"
        if config["training"]["top_k_layers"]
        else ""
    )
    + (
        f" --question-types {','.join(config['evaluation']['question_types'])}"
        if config["evaluation"]["question_types"]
        else ""
    )
    + ("" if config["evaluation"]["calibration"] else " --no-calibration")
)


# A family trained here keeps the base's bottom layers frozen, so evaluating the base model
# fills the shared lower-layer store once, while the family trains; the judges then find it
# warm instead of several of them filling it at the same time.
WARM_LOWER = MODELS["source"] == "train" and bool(config["training"]["top_k_layers"])


rule values_base:
    input:
        questionnaire=rules.questionnaire.output.jsonl,
    output:
        "results/values/base.json",
    log:
        "logs/values/base.log",
    benchmark:
        "measurements/out/values_base.tsv"
    priority: 20
    container:
        rule_image("values_base")
    threads: planned("values_base", "threads")
    resources:
        **planned_resources("values_base"),
    params:
        model=MODELS["base"],
        args=VALUES_ARGS,
        plan=planned("values_base", "arguments"),
    shell:
        "progalign values --model {params.model} --questionnaire $(dirname {input.questionnaire})"
        " {params.args} --threads {threads}{params.plan} --out {output} 2> {log}"


# Judges run early (priority), so the examinee and human evaluations find the lower-layer
# store warm.
rule values_judge:
    input:
        questionnaire=rules.questionnaire.output.jsonl,
        model=f"{FAMILY_DIR}/{{century}}",
        warm=rules.values_base.output if WARM_LOWER else [],
    output:
        f"results/values/{FAMILY}/{{century}}.json",
    log:
        f"logs/values/{FAMILY}/{{century}}.log",
    benchmark:
        f"measurements/out/values_{FAMILY}_{{century}}.tsv"
    priority: 10
    container:
        rule_image("values_judge")
    threads: planned("values_judge", "threads")
    resources:
        **planned_resources("values_judge"),
    params:
        args=VALUES_ARGS,
        plan=planned("values_judge", "arguments"),
    shell:
        "progalign values --model {input.model} --questionnaire $(dirname {input.questionnaire}) {params.args}"
        " --threads {threads}{params.plan} --out {output} 2> {log}"
