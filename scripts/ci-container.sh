#!/usr/bin/env bash
# Build the CPU image, run the configs/ci.yaml workflow inside it and with .venv on the host, and
# check that both give the same results (scripts/compare_results.py: results/tables/*.csv byte-equal,
# value vectors equal). Prints the timings of each phase.
#
#   scripts/ci-container.sh [CONFIGFILE]        default configs/ci.yaml
#
# PROGALIGN_CI_REFERENCE=DIR skips the host run and compares with the finished run in DIR.
# PROGALIGN_VENV: the host environment (default .venv of this checkout). The image, the container
# run and the host run (PYTHONPATH=its copy's src) all use this checkout as it was at the start.
# The image build is cached under $PROGALIGN_CONTAINER_CACHE (~/.cache/progalign/containers) and in
# podman's layer store, so a rerun takes seconds; PROGALIGN_NO_CACHE=1 rebuilds from scratch
# (layers only; the rootfs tarball and wheels stay cached). Both runs share the download cache
# ($PROGALIGN_CACHE or ~/.cache/progalign), mounted into the container. Work folders are kept in
# $PROGALIGN_CI_WORK (default: a fresh temp folder, removed on success).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CONFIG=$(realpath "${1:-configs/ci.yaml}")
[ -f "$CONFIG" ] || { echo "ci-container: no config file $CONFIG" >&2; exit 1; }
REFERENCE=${PROGALIGN_CI_REFERENCE:-}
CACHE=${PROGALIGN_CONTAINER_CACHE:-$HOME/.cache/progalign/containers}
DATA_CACHE=${PROGALIGN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/progalign}
command -v podman >/dev/null || { echo "ci-container: podman missing (scripts/ci-system-deps.sh)" >&2; exit 1; }
VENV=${PROGALIGN_VENV:-$ROOT/.venv}
[ -x "$VENV/bin/snakemake" ] || { echo "ci-container: $VENV missing (bash scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$CACHE" "$DATA_CACHE"
WORK=${PROGALIGN_CI_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/progalign-ci-container.XXXXXX")}
mkdir -p "$WORK"
log() { printf '[ci-container %(%H:%M:%S)T] %s\n' -1 "$*"; }

# 1. Copies of the checkout (tracked and untracked, not ignored; no results, no venvs).
list_files() {
  if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard
  else  # a copy without .git (tests): every file
    find . -type f -printf '%P\0'
  fi
}
sides=(container)
[ -n "$REFERENCE" ] || sides+=(local)
for side in "${sides[@]}"; do
  rm -rf "${WORK:?}/$side"
  mkdir -p "$WORK/$side"
  list_files \
    | grep -zv -e '^\.venv' -e '^results/' -e '^resources/' -e '^logs/' -e '^\.snakemake/' \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -C "$WORK/$side" -xf -
  cp "$CONFIG" "$WORK/$side/ci-container.yaml"
done

# 2. The image, built from that snapshot (its lock goes to the cache, not to containers/).
lock=$CACHE/images.lock.ci.yaml
t0=$SECONDS
PYTHON=$VENV/bin/python PROGALIGN_BUILD_NO_CACHE=${PROGALIGN_NO_CACHE:-0} \
  PROGALIGN_IMAGES_LOCK=$lock bash "$WORK/container/scripts/build-images.sh" cpu
build_s=$((SECONDS - t0))
image=$("$VENV/bin/python" -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['cpu']['local'])" "$lock")
log "image $image built in ${build_s} s"

# 3. The workflow inside the container, then on the host.
cname=progalign-ci-$$
trap 'podman --runtime runc rm -f "$cname" >/dev/null 2>&1 || true' EXIT  # killed: stop it too
t0=$SECONDS
podman --runtime runc run --rm --name "$cname" --network host \
  --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
  -v "$WORK/container:/work" -v "$DATA_CACHE:/cache" -e PROGALIGN_CACHE=/cache -w /work \
  "$image" snakemake --cores 2 --configfile ci-container.yaml > "$WORK/container.log" 2>&1 \
  || { tail -40 "$WORK/container.log" >&2; echo "ci-container: run in the container failed ($WORK/container.log)" >&2; exit 1; }
container_s=$((SECONDS - t0))
log "containerised run: ${container_s} s"
if [ -n "$REFERENCE" ]; then
  local_s="(reference $REFERENCE)"
else
  t0=$SECONDS
  (cd "$WORK/local" && PYTHONPATH=$WORK/local/src PROGALIGN_CACHE=$DATA_CACHE "$VENV/bin/snakemake" --cores 2 \
    --configfile ci-container.yaml > "$WORK/local.log" 2>&1) \
    || { tail -40 "$WORK/local.log" >&2; echo "ci-container: local run failed ($WORK/local.log)" >&2; exit 1; }
  local_s="$((SECONDS - t0)) s"
  log "local run: ${local_s}"
  REFERENCE=$WORK/local
fi

# 4. Same results?
"$VENV/bin/python" scripts/compare_results.py "$WORK/container" "$REFERENCE"
echo "ci-container timings: build ${build_s} s, containerised run ${container_s} s, local run ${local_s}"
[ -n "${PROGALIGN_CI_WORK:-}" ] || rm -rf "$WORK"
