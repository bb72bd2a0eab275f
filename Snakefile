# progalign workflow. Stage rules live in workflow/rules/; every rule calls the progalign CLI.
import json
import os
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version

from progalign.settings import resolve

min_version("9.0")

# Rules call the progalign CLI installed next to the Python running Snakemake (e.g. .venv/bin).
os.environ["PATH"] = (
    f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)


# config.yaml is the default experiment; a preset given with --configfile merges over it (nested
# mappings key by key), as in every Snakemake workflow. progalign.settings validates the result
# and fills in every default, exactly as `progalign run --config config.yaml --config PRESET`.
configfile: "config.yaml"


envvars:
    "PATH",


config.update(resolve(config).to_config())


include: "workflow/rules/hub_pins.smk"  # unpinned published models: stop now (-n: warn)
include: "workflow/rules/containers.smk"


# Every rule runs in the pinned CPU image under --sdm apptainer; model rules say
# container: rule_image("<rule>") (the GPU image when they need CUDA or vLLM).
container: CPU_IMAGE


include: "workflow/rules/common.smk"
include: "workflow/rules/worker.smk"
include: "workflow/rules/values.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/preferences.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"


# The resolved settings (every default filled in): snakemake results/settings.json
rule settings:
    output:
        "results/settings.json",
    log:
        "logs/settings.log",
    params:
        settings=json.dumps(config, indent=2, sort_keys=True),
    shell:
        "printf '%s\\n' {params.settings:q} > {output} 2> {log}"


rule all:
    default_target: True
    input:
        rules.figures.output,


drop_benchmarks_if_served()
