# Tidy tables, figures and leaderboard. In cached mode only the committed tables of a
# reference run are read (checksums verified), so no model job can be scheduled.


if config["mode"] == "cached":
    CACHED = f"results/cached/{config['cached']}"

    rule figures:
        input:
            manifest=f"{CACHED}/MANIFEST.sha256",
            tables=expand(f"{CACHED}/tables/{{t}}.csv", t=CORE_TABLES),
        output:
            **report_outputs("results/report-cached"),
        log:
            "logs/figures-cached.log",
        shell:
            "progalign report build --tables $(dirname {input.manifest})/tables"
            " --out results/report-cached --verify-manifest $(dirname {input.manifest})"
            " --provenance $(dirname {input.manifest})/provenance.json"
            " --require values --require scores --require steps > {log} 2>&1"

else:

    rule tables:
        input:
            questionnaire=rules.questionnaire.output.jsonl,
            values=expand(f"results/values/{FAMILY}/{{c}}.json", c=CENTURIES),
            scores=expand(
                "results/scores/{challenge}/{algorithm}/seed{seed}.json",
                challenge=CHALLENGES,
                algorithm=ALGORITHMS,
                seed=SEEDS,
            ),
        output:
            tables=expand("results/tables/{t}.csv", t=TABLES),
            timings="results/tables/timings.csv",
            provenance="results/tables/provenance.json",
        log:
            "logs/tables.log",
        params:
            family=FAMILY,
            config=CONFIG_JSON,
        shell:
            "progalign tables --family {params.family} --values {input.values}"
            " --scores {input.scores} --config-json {params.config:q}"
            " --questionnaire $(dirname {input.questionnaire})"
            " --out results/tables > {log} 2>&1"

    rule figures:
        input:
            tables=rules.tables.output.tables,
            provenance=rules.tables.output.provenance,
        output:
            **report_outputs("results/report"),
        log:
            "logs/figures.log",
        shell:
            "progalign report build --tables results/tables --out results/report"
            " --provenance {input.provenance} --require values --require scores --require steps > {log} 2>&1"

    rule cache_results:
        # Refresh the committed reference tables from this run: snakemake cache_results
        input:
            tables=rules.tables.output.tables,
            provenance=rules.tables.output.provenance,
        output:
            manifest=f"results/cached/{config['cached']}/MANIFEST.sha256",
        log:
            "logs/cache_results.log",
        params:
            out=lambda w, output: os.path.dirname(output.manifest),
        shell:
            "mkdir -p {params.out}/tables && cp {input.tables} {params.out}/tables/"
            " && cp {input.provenance} {params.out}/provenance.json"
            " && progalign report manifest {params.out} > {log} 2>&1"
