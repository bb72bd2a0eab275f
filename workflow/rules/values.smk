# Value vectors: every model evaluated once on the questionnaire.


rule questionnaire:
    output:
        items="resources/questionnaire/questionnaire/items.jsonl",
    params:
        protocol=config["questionnaire"]["protocol"],
        subsample=(
            f"--per-dimension {config['questionnaire']['per_dimension']}"
            if config["questionnaire"].get("per_dimension")
            else ""
        ),
        seed=config["questionnaire"]["seed"],
    log:
        "logs/questionnaire.log",
    shell:
        "progalign questionnaire fetch --protocol {params.protocol} --seed {params.seed}"
        " {params.subsample} --out $(dirname {output.items}) 2> {log}"


rule base_model:
    output:
        directory("resources/models/base"),
    params:
        base=config["models"]["base"],
    log:
        "logs/base_model.log",
    shell:
        "progalign model materialize {params.base} --out {output} 2> {log}"


rule values_base:
    input:
        questionnaire=rules.questionnaire.output.items,
        model=rules.base_model.output[0],
    output:
        "results/values/base.json",
    params:
        ev=config["evaluation"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/values/base.log",
    benchmark:
        "benchmarks/out/values_base.tsv"
    shell:
        "progalign values --model {input.model} --questionnaire $(dirname {input.questionnaire})"
        " --backend {params.ev[backend]} --mode {params.ev[mode]} --scoring {params.ev[scoring]}"
        " --permutations {params.ev[permutations]} --format {params.ev[prompt_format]}"
        " --aggregation {params.ev[aggregation]} --bootstrap {params.ev[bootstrap]}"
        " --seed {params.ev[seed]} --batch-size {params.ev[batch_size]} --threads {threads}"
        " --out {output} 2> {log}"
