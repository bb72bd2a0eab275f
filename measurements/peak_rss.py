"""Wall time and peak resident memory of one command (run by hand; see measurements/RESULTS.md).

The command runs as a child process; its peak RSS is ``getrusage(RUSAGE_CHILDREN).ru_maxrss``
(the largest of the child and its own waited-for children).

    .venv/bin/python measurements/peak_rss.py -- .venv/bin/progalign values --model embedded ...
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main() -> int:
    """Run ``sys.argv[1:]`` (after an optional ``--``); print a JSON line; return its exit code."""
    argv = sys.argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    start = time.perf_counter()
    code = subprocess.run(argv, check=False).returncode
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    print(json.dumps({"command": " ".join(argv), "exit": code, "wall_s": round(wall, 1),
                      "peak_rss_mib": round(peak_kib / 1024, 1)}))
    return code


if __name__ == "__main__":
    sys.exit(main())
