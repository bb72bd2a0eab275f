#!/usr/bin/env bash
# Run the test suite. pytest's exit code 5 ("no tests collected") means the suite is broken or
# mis-selected: it is reported and counted as failure.
#
#   bash scripts/test.sh            the whole suite (slow, network and system tests included;
#                                   what CI runs)
#   bash scripts/test.sh --fast     the fast tier: -m "not slow and not system" (unit tests and
#                                   the quick integration tests; 1-3 min on 2 cores, measured in
#                                   docs/testing.md)
#
# Other arguments go to pytest (after --fast, if given), e.g. `--fast -x tests/test_io_scratch.py`.
set -uo pipefail
cd "$(dirname "$0")/.."
args=()
if [ "${1:-}" = "--fast" ]; then
  shift
  args=(-m "not slow and not system")
fi
.venv/bin/python -m pytest "${args[@]}" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests (exit 5) - treating as failure" >&2
  exit 1
fi
exit "$rc"
