# Value vectors: every model evaluated once on the questionnaire.

Q = config["questionnaire"]
Q_NAME = Q["protocol"] + (
    f"-n{Q['per_dimension']}-s{Q['seed']}" if Q["per_dimension"] else ""
)


rule questionnaire:
    output:
        jsonl=f"resources/questionnaire/{Q_NAME}/items.jsonl",
    log:
        "logs/questionnaire.log",
    params:
        protocol=Q["protocol"],
        subsample=f"--per-dimension {Q['per_dimension']}" if Q["per_dimension"] else "",
        seed=Q["seed"],
    shell:
        "progalign questionnaire fetch --protocol {params.protocol} --seed {params.seed}"
        " {params.subsample} --out $(dirname {output.jsonl}) 2> {log}"


rule values_base:
    input:
        questionnaire=rules.questionnaire.output.jsonl,
    output:
        "results/values/base.json",
    log:
        "logs/values/base.log",
    benchmark:
        "benchmarks/out/values_base.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        model=config["models"]["base"],
        ev=config["evaluation"],
    shell:
        "progalign values --model {params.model} --questionnaire $(dirname {input.questionnaire})"
        " --backend {params.ev[backend]} --mode {params.ev[mode]} --scoring {params.ev[scoring]}"
        " --permutations {params.ev[permutations]} --format {params.ev[prompt_format]}"
        " --aggregation {params.ev[aggregation]} --bootstrap {params.ev[bootstrap]}"
        " --seed {params.ev[seed]} --batch-size {params.ev[batch_size]} --threads {threads}"
        " --out {output} 2> {log}"
