# progalign workflow. Stage rules live in workflow/rules/; every rule calls the progalign CLI.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# Rules call the progalign CLI installed next to the Python running Snakemake (e.g. .venv/bin).
os.environ["PATH"] = (
    f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)


# config.yaml is the default experiment. A preset given with --configfile replaces it instead of
# being merged over it, so no key of the default leaks into another preset.
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


envvars:
    "PATH",


validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


include: "workflow/rules/containers.smk"


# Every rule runs in the pinned CPU image under --sdm apptainer; GPU rules say container: GPU_IMAGE.
container: CPU_IMAGE


include: "workflow/rules/common.smk"
include: "workflow/rules/values.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/preferences.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/worker.smk"


rule all:
    default_target: True
    input:
        rules.figures.output,
