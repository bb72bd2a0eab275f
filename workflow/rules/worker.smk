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


def drop_benchmarks_if_served():
    """While the worker serves the run, rules write no benchmark: file: a served job's file
    would measure only the client waiting on the worker. The worker's log records every served
    job's own CPU time and peak memory instead (measurements/breakdown.py reads it). Called at the
    end of the Snakefile; Snakemake has no public way to unset a rule's benchmark, so this
    resets the attribute its constructor leaves unset (tests/test_workflow.py checks both).
    """
    if USE_WORKER:
        for served in workflow.rules:
            served._benchmark = None


onstart:
    if USE_WORKER:
        progalign_worker.start(".snakemake/log/progalign-worker.log")


onsuccess:
    progalign_worker.stop()


onerror:
    progalign_worker.stop()
