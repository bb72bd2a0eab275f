# Human-proxy feedback, computed once per historical model and shared by every run.


rule preferences:
    input:
        questionnaire=f"{QDIR}/items.jsonl",
        model=f"{FAMILY_DIR}/{{century}}",
    output:
        f"results/preferences/{FAMILY}/{{century}}.jsonl",
    log:
        f"logs/preferences/{FAMILY}/{{century}}.log",
    benchmark:
        f"measurements/out/preferences_{FAMILY}_{{century}}.tsv"
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        spec=SPEC,
    shell:
        "progalign preferences --human {input.model} --out {output} {params.spec}"
        " --threads {threads} 2> {log}"


rule answers:
    input:
        model=f"{FAMILY_DIR}/{{century}}",
        preferences=f"results/preferences/{FAMILY}/{{century}}.jsonl",
    output:
        f"results/answers/{FAMILY}/{{century}}.jsonl",
    log:
        f"logs/answers/{FAMILY}/{{century}}.log",
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        spec=SPEC,
    shell:
        "progalign answers --human {input.model} --preferences {input.preferences}"
        " --out {output} {params.spec} --threads {threads} 2> {log}"
