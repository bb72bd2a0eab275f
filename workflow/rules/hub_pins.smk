# Fail early: a run on the published models (models.source hub) needs each model's revision
# pinned (configs/hub-revisions.lock.yaml or models.hub.revisions; docs/hub.md). A real run
# stops here, while the Snakefile loads, before any job; a dry run (-n) warns and shows the DAG.
# Snakemake 9 knows -n while the Snakefile loads only through its output settings:
# workflow.dryrun reads the executor, which is set after loading (False until then).
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from progalign.hublock import unpinned_message


def check_hub_pins():
    files = [
        "config.yaml",
        *(os.path.relpath(f) for f in workflow.config_settings.configfiles),
    ]
    message = unpinned_message(config["models"], files)
    if message is None:
        return
    if workflow.output_settings.dryrun:
        logger.warning(
            f"{message}\nThis dry run shows the whole DAG; a real run stops here."
        )
    else:
        raise WorkflowError(f"{message}\nNo job was started.")


check_hub_pins()
