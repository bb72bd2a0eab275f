# The historical (human-proxy) models: trained here, downloaded, or tiny test models.
CORPUS_CENTURIES = ["C014", "C016", "C017", "C018", "C019", "C020", "C021"]


rule corpus_embedded:
    output:
        expand("resources/corpus/embedded/{century}.jsonl", century=CORPUS_CENTURIES),
        heldout=expand(
            "resources/corpus/embedded/heldout/{century}.jsonl",
            century=CORPUS_CENTURIES,
        ),
    log:
        "logs/corpus_embedded.log",
    resources:
        runtime=30,
    shell:
        "progalign corpus build-embedded --out resources/corpus/embedded 2> {log}"


if MODELS["source"] == "train":
    # The trained layers are one setting (training.top_k_layers), not also the recipe's.
    with open(MODELS["hislm_recipe"], encoding="utf-8") as _recipe:
        if "top_k_layers" in (yaml.safe_load(_recipe) or {}).get("hislm", {}):
            raise ValueError(
                f"{MODELS['hislm_recipe']}: drop top_k_layers; the workflow trains the"
                " top training.top_k_layers layers of every model"
            )

    rule hislm:
        input:
            corpus="resources/corpus/embedded/{century}.jsonl",
        output:
            directory(f"{FAMILY_DIR}/{{century}}"),
        log:
            f"logs/hislm/{FAMILY}/{{century}}.log",
        benchmark:
            f"measurements/out/hislm_{FAMILY}_{{century}}.tsv"
        wildcard_constraints:
            century=f"(?!{CENTURIES[0]})C0\\d\\d",
        container:
            rule_image("hislm")
        threads: planned("hislm", "threads")
        resources:
            **planned_resources("hislm"),
        params:
            base=MODELS["base"],
            recipe=MODELS["hislm_recipe"],
            plan=planned("hislm", "arguments"),
            top_k=(
                f"--top-k-layers {config['training']['top_k_layers']}"
                if config["training"]["top_k_layers"]
                else ""
            ),
        shell:
            "progalign train-hislm --base {params.base} --corpus {input.corpus}"
            " --config {params.recipe} {params.top_k} --out {output}{params.plan} > {log} 2>&1"

    # Every trajectory starts from the first century's model: train it first.
    use rule hislm as hislm_first with:
        wildcard_constraints:
            century=CENTURIES[0],
        priority: 5

elif MODELS["source"] == "tiny":

    rule tiny_model:
        output:
            directory(f"{FAMILY_DIR}/{{century}}"),
        log:
            f"logs/tiny/{FAMILY}/{{century}}.log",
        params:
            seed=lambda w: int(w.century[1:]),
        shell:
            "progalign model tiny --out {output} --seed {params.seed} > {log} 2>&1"

else:
    HUB_FAMILY = f"histllama3-{MODELS['hub']['size'].lower()}-{MODELS['hub']['kind']}"
    if FAMILY != HUB_FAMILY:
        raise ValueError(
            f"config: models.family must be {HUB_FAMILY!r} for source hub (got {FAMILY!r})"
        )

    rule hub_model:
        output:
            directory(f"{FAMILY_DIR}/{{century}}"),
        log:
            f"logs/hub/{FAMILY}/{{century}}.log",
        threads: planned("hub_model", "threads")
        resources:
            **planned_resources("hub_model"),
        params:
            # only this century's pin: re-pinning one century re-downloads that model alone
            size=MODELS["hub"]["size"],
            kind=MODELS["hub"]["kind"],
            revision=lambda w: MODELS["hub"]["revisions"].get(w.century) or "main",
            unpinned=("--allow-unpinned" if MODELS["hub"]["allow_unpinned"] else ""),
        shell:
            "progalign hub fetch-model --size {params.size} --century {wildcards.century}"
            " --kind {params.kind} --revision {params.revision} {params.unpinned}"
            " --out-root resources/models > {log} 2>&1"


rule perplexity:
    input:
        models=expand(f"{FAMILY_DIR}/{{century}}", century=CORPUS_CENTURIES),
        heldout=rules.corpus_embedded.output.heldout,
    output:
        "results/perplexity/embedded.csv",
    log:
        "logs/perplexity.log",
    container:
        rule_image("perplexity")
    threads: planned("perplexity", "threads")
    resources:
        **planned_resources("perplexity"),
    params:
        models=" ".join(f"--model {c}={FAMILY_DIR}/{c}" for c in CORPUS_CENTURIES),
    shell:
        "progalign perplexity {params.models} --corpus resources/corpus/embedded/heldout"
        " --out {output} > {log} 2>&1"
