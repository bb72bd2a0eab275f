# Tidy tables, figures and leaderboard. In cached mode only the committed tables of a
# reference run are read (checksums verified), so no model job can be scheduled.
FIGURES = ["values_heatmap", "group_trajectories", "similarity_curves", "scores_bars"]
TABLES = ["values", "scores", "steps", "examinee_values"]


def report_outputs(out):
    figures = {
        f: report(
            f"{out}/figures/{f}.png",
            caption=f"../report/{f}.rst",
            category="Figures",
        )
        for f in FIGURES
    }
    return dict(
        **figures,
        svg=expand(f"{out}/figures/{{f}}.svg", f=FIGURES),
        csv=f"{out}/leaderboard.csv",
        md=f"{out}/leaderboard.md",
        html=report(
            f"{out}/leaderboard.html",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
    )


if config["mode"] == "cached":
    CACHED = f"results/cached/{config['cached']}"

    rule figures:
        input:
            manifest=f"{CACHED}/MANIFEST.sha256",
            tables=expand(f"{CACHED}/tables/{{t}}.csv", t=TABLES),
        output:
            **report_outputs("results/report-cached"),
        log:
            "logs/figures-cached.log",
        shell:
            "progalign report build --tables {CACHED}/tables --out results/report-cached"
            " --verify-manifest {CACHED} --provenance {CACHED}/provenance.json"
            " --require values scores steps > {log} 2>&1"

else:

    rule tables:
        input:
            values=expand(f"results/values/{FAMILY}/{{c}}.json", c=CENTURIES),
            scores=expand(
                "results/scores/{challenge}/{algorithm}/seed{seed}.json",
                challenge=CHALLENGES,
                algorithm=ALGORITHMS,
                seed=SEEDS,
            ),
        output:
            tables=expand("results/tables/{t}.csv", t=TABLES),
            provenance="results/tables/provenance.json",
        log:
            "logs/tables.log",
        shell:
            "progalign tables --family {FAMILY} --values {input.values}"
            " --scores {input.scores} --config-json {CONFIG_JSON:q}"
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
            " --provenance {input.provenance} --require values scores steps > {log} 2>&1"

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
            out=f"results/cached/{config['cached']}",
        shell:
            "mkdir -p {params.out}/tables && cp {input.tables} {params.out}/tables/"
            " && cp {input.provenance} {params.out}/provenance.json"
            " && progalign report manifest {params.out} > {log} 2>&1"
