"""A warm fork server that spares local workflow jobs the 5-8 s of importing torch & co.

:mod:`~progalign_worker.server` preloads the libraries and forks a child per job;
:mod:`~progalign_worker.client` hands a ``progalign`` call to it when the interpreter, code and
import-time environment match, and runs it in-process otherwise; :func:`start` and
:func:`stop` are what the Snakefile's ``onstart``/``onsuccess``/``onerror`` handlers call.
"""

from progalign_worker.control import start, stop, wait_ready

__all__ = ["start", "stop", "wait_ready"]
