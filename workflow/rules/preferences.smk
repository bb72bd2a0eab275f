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
    container:
        rule_image("preferences")
    threads: planned("preferences", "threads")
    resources:
        **planned_resources("preferences"),
    params:
        spec=SPEC,
        plan=planned("preferences", "arguments"),
    shell:
        "progalign preferences --human {input.model} --out {output} {params.spec}"
        " --threads {threads}{params.plan} 2> {log}"


rule answers:
    input:
        model=f"{FAMILY_DIR}/{{century}}",
        preferences=f"results/preferences/{FAMILY}/{{century}}.jsonl",
    output:
        f"results/answers/{FAMILY}/{{century}}.jsonl",
    log:
        f"logs/answers/{FAMILY}/{{century}}.log",
    container:
        rule_image("answers")
    threads: planned("answers", "threads")
    resources:
        **planned_resources("answers"),
    params:
        spec=SPEC,
        plan=planned("answers", "arguments"),
    shell:
        "progalign answers --human {input.model} --preferences {input.preferences}"
        " --out {output} {params.spec} --threads {threads}{params.plan} 2> {log}"
