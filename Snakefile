# progalign workflow. Stage rules live in workflow/rules/; every rule calls the progalign CLI.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


include: "workflow/rules/values.smk"


rule all:
    input:
        "results/values/base.json",
    default_target: True
