#!/usr/bin/env bash
# Build the progalign container images locally and record their digests (docs/containers.md).
#
#   scripts/build-images.sh [--sif] [--push REGISTRY] [cpu|gpu ...]      default target: cpu
#   scripts/build-images.sh --lock cpu|gpu REF [--sha256 HEX]    pin an image built/pushed elsewhere
#
# For users who cannot pull the published images. Steps, all cached under $PROGALIGN_CONTAINER_CACHE
# (default ~/.cache/progalign/containers) so that a rerun only rebuilds what changed:
#   1. base: BASE_IMAGE if set (must be pinned: name@sha256:...), else a Debian bookworm minbase
#      rootfs made with debootstrap (as root), `podman import`ed as localhost/progalign-base;
#   2. wheels: `pip wheel` of the target's lock files on this host (the CPU torch comes from pip's
#      find-links, or PROGALIGN_TORCH_INDEX as in scripts/setup.sh), so the image build is offline;
#   3. `podman build --target <t>` of containers/Dockerfile with lowered ulimits, the host CA bundle
#      as a build secret and the wheels as a build context;
#   4. `progalign images lock` records it in containers/images.lock.yaml (or $PROGALIGN_IMAGES_LOCK):
#      `ref` (what the rules use) = docker://<local name>@sha256:<digest>; with --push REGISTRY the
#      image is pushed and ref = docker://REGISTRY/progalign@sha256:<digest the registry reports>;
#      with --sif an Apptainer image containers/progalign-<version>-<target>.sif is built from it
#      (needs apptainer) and ref = that file, its sha256 recorded (checked by the workflow). Image
#      id, local digest, base, size and build time are recorded beside it.
# --lock only runs step 4 for a reference someone else built or pushed (validated, written
# atomically): the same as `progalign images lock TARGET REF`.
# Environment: ENGINE=podman|docker (default: podman if present), BASE_IMAGE, PROGALIGN_TORCH_INDEX,
# PROGALIGN_CONTAINER_CACHE, PROGALIGN_IMAGES_LOCK, PROGALIGN_IMAGE_PREFIX (default
# localhost/progalign), GPU_WHEELS=1 to pre-fetch the (multi-GB) GPU wheels instead of letting the
# build download them, PROGALIGN_PUSH_TLS_VERIFY=false to push to a plain-HTTP (loopback) registry.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
# The lock file is written by progalign itself (src/progalign/images/lock.py), from this checkout.
progalign_cli() { PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m progalign.cli "$@"; }
targets=()
sif=0
registry=""
lock_args=()
lock_sha=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sif) sif=1 ;;
    --push) [ $# -ge 2 ] || { echo "build-images: --push needs a registry" >&2; exit 2; }
            registry=${2%/}; shift ;;
    --lock) [ $# -ge 3 ] || { echo "build-images: --lock needs TARGET REF" >&2; exit 2; }
            lock_args=("$2" "$3"); shift 2 ;;
    --sha256) [ $# -ge 2 ] || { echo "build-images: --sha256 needs a value" >&2; exit 2; }
              lock_sha=(--sha256 "$2"); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
if [ "${#lock_args[@]}" -gt 0 ]; then
  [ "${#targets[@]}" -eq 0 ] && [ "$sif" = 0 ] && [ -z "$registry" ] \
    || { echo "build-images: --lock TARGET REF takes no other target or option" >&2; exit 2; }
  pinned_ref=$(progalign_cli images lock "${lock_args[@]}" "${lock_sha[@]}")
  echo "build-images: ${lock_args[0]} pinned to $pinned_ref in ${PROGALIGN_IMAGES_LOCK:-containers/images.lock.yaml}" >&2
  exit 0
fi
[ "${#targets[@]}" -gt 0 ] || targets=(cpu)
for t in "${targets[@]}"; do
  case "$t" in cpu|gpu) ;; *) echo "build-images: unknown target '$t' (cpu or gpu)" >&2; exit 2 ;; esac
done

CACHE=${PROGALIGN_CONTAINER_CACHE:-$HOME/.cache/progalign/containers}
PREFIX=${PROGALIGN_IMAGE_PREFIX:-localhost/progalign}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
ENGINE=${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
command -v "$ENGINE" >/dev/null || { echo "build-images: neither podman nor docker found" >&2; exit 1; }
CA=${PROGALIGN_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
mkdir -p "$CACHE"

# podman here: runc (crun is not installed), lowered ulimits (the defaults exceed the sandbox's).
engine=("$ENGINE")
run_opts=()
if [ "$ENGINE" = podman ]; then
  command -v runc >/dev/null && engine+=(--runtime runc)
  run_opts=(--layers --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
fi
image_exists() { "${engine[@]}" image inspect "$1" >/dev/null 2>&1; }
# Content address of a local image: podman's manifest digest; docker has none before a push, so
# its image id (sha256 of the config) stands in.
digest_of() {
  if [ "$ENGINE" = podman ]; then "${engine[@]}" image inspect --format '{{.Digest}}' "$1"
  else "${engine[@]}" image inspect --format '{{.Id}}' "$1"; fi
}
log() { printf '[build-images %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

sha_of() { cat "$@" | sha256sum | cut -c1-16; }

base_image() {
  if [ -n "${BASE_IMAGE:-}" ]; then
    [[ "$BASE_IMAGE" == *@sha256:* ]] || {
      echo "build-images: BASE_IMAGE=$BASE_IMAGE is not pinned; use name@sha256:<digest>" >&2
      exit 1
    }
    image_exists "$BASE_IMAGE" || "${engine[@]}" pull "$BASE_IMAGE" >&2
    echo "$BASE_IMAGE"
    return
  fi
  local tarball=$CACHE/rootfs-bookworm-minbase.tar
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || {
      echo "build-images: debootstrap missing (scripts/ci-system-deps.sh), or set BASE_IMAGE" >&2
      exit 1
    }
    [ "$(id -u)" -eq 0 ] || { echo "build-images: debootstrap needs root (or set BASE_IMAGE)" >&2; exit 1; }
    local rootfs
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    log "debootstrap bookworm minbase -> $tarball"
    debootstrap --variant=minbase --include=ca-certificates,python3,python3-venv \
      bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" > "$CACHE/debootstrap.log" 2>&1 \
      || { echo "build-images: debootstrap failed, see $CACHE/debootstrap.log" >&2; rm -rf "$rootfs"; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
  fi
  local tag
  tag=$PREFIX-base:bookworm-$(sha256sum "$tarball" | cut -c1-12)
  if ! image_exists "$tag"; then
    log "import $tarball as $tag"
    "${engine[@]}" import --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      "$tarball" "$tag" >/dev/null
  fi
  # Pin by image id: the local import has no registry digest.
  "${engine[@]}" image inspect --format '{{.Id}}' "$tag"
}

wheels_for() {  # $1 target -> prints the wheel folder (empty folder for gpu unless GPU_WHEELS=1)
  local t=$1 reqs dir
  if [ "$t" = cpu ]; then reqs=(envs/cpu.txt envs/dev.txt); else reqs=(envs/gpu.txt); fi
  local hashed=("${reqs[@]}")
  [ -f "envs/$t-overrides.txt" ] && hashed+=("envs/$t-overrides.txt")
  dir=$CACHE/wheels-$t-$(sha_of "${hashed[@]}")
  if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
  mkdir -p "$dir"
  if [ "$t" = gpu ] && [ "${GPU_WHEELS:-0}" != 1 ]; then echo "$dir"; return; fi
  local extra=() req_args=()
  [ -n "${PROGALIGN_TORCH_INDEX:-}" ] && [ "$t" = cpu ] && extra+=(--extra-index-url "$PROGALIGN_TORCH_INDEX")
  for r in "${reqs[@]}"; do req_args+=(-r "$r"); done
  log "pip wheel ${reqs[*]} -> $dir"
  "$PY" -m pip wheel --quiet --wheel-dir "$dir" "${extra[@]}" "setuptools>=68" "${req_args[@]}" >&2
  # envs/<target>-overrides.txt: installed with --no-deps over the lock (containers/Dockerfile)
  if [ -f "envs/$t-overrides.txt" ]; then
    "$PY" -m pip wheel --quiet --no-deps --wheel-dir "$dir" -r "envs/$t-overrides.txt" >&2
  fi
  touch "$dir/.complete"
  echo "$dir"
}

publish() {  # $1 target, $2 image tag -> prints "ref sif_sha256" (the last may be -)
  local t=$1 tag=$2 digest
  if [ -n "$registry" ]; then
    local remote=$registry/progalign:$VERSION-$t digestfile
    log "push $remote"
    if [ "$ENGINE" = podman ]; then
      # --digestfile: the digest of the manifest as pushed (layers are compressed on the way, so
      # it is not the local one).
      digestfile=$(mktemp)
      "${engine[@]}" push --tls-verify="${PROGALIGN_PUSH_TLS_VERIFY:-true}" \
        --digestfile "$digestfile" "$tag" "docker://$remote" >&2
      digest=$(cat "$digestfile")
      rm -f "$digestfile"
    else
      "${engine[@]}" tag "$tag" "$remote"
      "${engine[@]}" push "$remote" >&2
      digest=$("${engine[@]}" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' \
        "$remote" | sed -n "s|^$registry/progalign@||p" | head -1)
    fi
    [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] \
      || { echo "build-images: no digest for the pushed $remote (got '$digest')" >&2; exit 1; }
    echo "docker://$registry/progalign@$digest -"
  elif [ "$sif" = 1 ]; then
    local bin archive out
    bin=$(command -v apptainer || command -v singularity) \
      || { echo "build-images: --sif needs apptainer (or singularity)" >&2; exit 1; }
    archive=$CACHE/progalign-$VERSION-$t.oci.tar
    out=containers/progalign-$VERSION-$t.sif
    log "$bin build $out"
    rm -f "$archive"
    "${engine[@]}" save --format oci-archive -o "$archive" "$tag" >&2
    "$bin" build --force "$out.part" "oci-archive://$archive" >&2 && mv "$out.part" "$out"
    rm -f "$archive"
    echo "$out $(sha256sum "$out" | cut -d' ' -f1)"
  else
    digest=$(digest_of "$tag")
    echo "docker://${tag%:*}@$digest -"
  fi
}

record() {  # $1 target, $2 image tag, $3 base, $4 ref, $5 sif sha256 (or -), $6 build seconds
  local t=$1 tag=$2 id digest size sha=()
  id=$("${engine[@]}" image inspect --format '{{.Id}}' "$tag")
  digest=$(digest_of "$tag")
  size=$("${engine[@]}" image inspect --format '{{.Size}}' "$tag")
  [ "$5" = - ] || sha=(--sha256 "$5")
  progalign_cli images lock "$t" "$4" "${sha[@]}" \
    --field "local=${tag%:*}@$digest" --field "image_id=sha256:${id#sha256:}" \
    --field "base=$3" --field "built_with=$ENGINE" \
    --field "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)" --field "build_seconds=$6" \
    --field "size_bytes=$size"
}

for t in "${targets[@]}"; do
  start=$SECONDS
  base=$(base_image)
  wheels=$(wheels_for "$t")
  pip_opts=""
  if [ "$t" = cpu ] || [ "${GPU_WHEELS:-0}" = 1 ]; then pip_opts="--no-index"; fi
  tag=$PREFIX:$VERSION-$t
  log "build $tag (base $base)"
  no_cache=()
  [ "${PROGALIGN_BUILD_NO_CACHE:-0}" = 1 ] && no_cache=(--no-cache)
  # The image id file is written only by a build that succeeded (a podman build stopped by a
  # signal may still exit 0).
  iidfile=$CACHE/iid-$t
  rm -f "$iidfile"
  "${engine[@]}" build "${run_opts[@]}" "${no_cache[@]}" --network host \
    --secret "id=ca,src=$CA" --build-context "wheels=$wheels" \
    --build-arg "BASE_IMAGE=$base" --build-arg "PIP_OPTIONS=$pip_opts" \
    --iidfile "$iidfile" --target "$t" --tag "$tag" -f containers/Dockerfile . >&2
  [ -s "$iidfile" ] || { echo "build-images: building $tag failed" >&2; exit 1; }
  build_s=$((SECONDS - start))
  published=$(publish "$t" "$tag")
  read -r ref sif_sha <<< "$published"
  pinned=$(record "$t" "$tag" "$base" "$ref" "$sif_sha" "$build_s")
  log "$t: $pinned (built in $build_s s) recorded in ${PROGALIGN_IMAGES_LOCK:-containers/images.lock.yaml}"
done
