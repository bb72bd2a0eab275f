# The warm worker (src/progalign_worker, optional: resources.worker). On a local run without
# containers, the jobs' `progalign` calls go through a shim to one process that imported torch,
# transformers and TRL once, which forks a child per job. Jobs it cannot serve (another
# interpreter, a container, SLURM), or that start before it is ready, run as plain processes.
# Regenerating figures from cached results runs no model job: no worker.
import progalign_worker

USE_WORKER = (
    config["resources"]["worker"]
    and config.get("mode") != "cached"
    and workflow.local_exec
    and not workflow.deployment_settings.deployment_method
)


def measured(path):
    """A rule's benchmark: file, or none while the worker serves the run: a served job's file
    would measure only the waiting client. The worker's log records every served job's own
    CPU time and peak memory instead (benchmarks/breakdown.py reads it)."""
    return "" if USE_WORKER else path


onstart:
    if USE_WORKER:
        progalign_worker.start(".snakemake/log/progalign-worker.log")


onsuccess:
    progalign_worker.stop()


onerror:
    progalign_worker.stop()
