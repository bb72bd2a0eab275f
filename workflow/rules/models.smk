# Historical corpus and the historical-model family trained from it.

CENTURIES = ["C014", "C016", "C017", "C018", "C019", "C020", "C021"]


rule corpus_embedded:
    output:
        expand("resources/corpus/embedded/{century}.jsonl", century=CENTURIES),
        heldout=expand(
            "resources/corpus/embedded/heldout/{century}.jsonl", century=CENTURIES
        ),
    log:
        "logs/corpus_embedded.log",
    shell:
        "progalign corpus build-embedded --out resources/corpus/embedded 2> {log}"


rule hislm:
    input:
        corpus="resources/corpus/embedded/{century}.jsonl",
    output:
        directory("resources/models/embedded/{century}"),
    log:
        "logs/hislm/{century}.log",
    benchmark:
        "benchmarks/out/hislm_{century}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        base=config["models"]["base"],
        recipe="configs/hislm/embedded.yaml",
    shell:
        "progalign train-hislm --base {params.base} --corpus {input.corpus}"
        " --config {params.recipe} --out {output} > {log} 2>&1"


rule perplexity:
    input:
        models=expand("resources/models/embedded/{century}", century=CENTURIES),
        heldout=rules.corpus_embedded.output.heldout,
    output:
        "results/perplexity/embedded.csv",
    log:
        "logs/perplexity.log",
    threads: 2
    params:
        models=" ".join(f"--model {c}=resources/models/embedded/{c}" for c in CENTURIES),
    shell:
        "progalign perplexity {params.models} --corpus resources/corpus/embedded/heldout"
        " --out {output} > {log} 2>&1"
