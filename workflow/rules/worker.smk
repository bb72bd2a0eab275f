# The warm worker (progalign.worker): on a local run without containers, every progalign job
# is forked from one process that imported torch, transformers and TRL once. Jobs it cannot
# serve (another interpreter, a container, SLURM), or that start before it is ready, run as
# plain processes. Regenerating figures from cached results runs no model job: no worker.
import progalign.worker

USE_WORKER = (
    config["resources"]["worker"]
    and config.get("mode") != "cached"
    and workflow.local_exec
    and not workflow.deployment_settings.deployment_method
)


onstart:
    if USE_WORKER:
        progalign.worker.start(".snakemake/log/progalign-worker.log")


onsuccess:
    progalign.worker.stop()


onerror:
    progalign.worker.stop()
