#!/usr/bin/env bash
# Build the progalign container images locally and record their digests (docs/containers.md).
#
#   scripts/build-images.sh [--sif] [--push REGISTRY] [cpu|gpu ...]      default target: cpu
#
# For users who cannot pull the published images. Steps, all cached under $PROGALIGN_CONTAINER_CACHE
# (default ~/.cache/progalign/containers) so that a rerun only rebuilds what changed:
#   1. base: BASE_IMAGE if set (must be pinned: name@sha256:...), else a Debian bookworm minbase
#      rootfs made with debootstrap (as root), `podman import`ed as localhost/progalign-base;
#   2. wheels: `pip wheel` of the target's lock files on this host (the CPU torch comes from pip's
#      find-links, or PROGALIGN_TORCH_INDEX as in scripts/setup.sh), so the image build is offline;
#   3. `podman build --target <t>` of containers/Dockerfile with lowered ulimits, the host CA bundle
#      as a build secret and the wheels as a build context;
#   4. the image id and digest go to containers/images.lock.yaml (or $PROGALIGN_IMAGES_LOCK), with
#      `ref` (what the rules use) = docker://<local name>@sha256:<digest>; with --push REGISTRY the
#      image is pushed and ref = docker://REGISTRY/progalign@sha256:<pushed digest>; with --sif an
#      Apptainer image containers/progalign-<version>-<target>.sif is built from it (needs
#      apptainer) and ref = that file, its sha256 recorded (checked by workflow/rules/containers.smk).
# Environment: ENGINE=podman|docker (default: podman if present), BASE_IMAGE, PROGALIGN_TORCH_INDEX,
# PROGALIGN_CONTAINER_CACHE, PROGALIGN_IMAGES_LOCK, PROGALIGN_IMAGE_PREFIX (default
# localhost/progalign), GPU_WHEELS=1 to pre-fetch the (multi-GB) GPU wheels instead of letting the
# build download them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
targets=()
sif=0
registry=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sif) sif=1 ;;
    --push) [ $# -ge 2 ] || { echo "build-images: --push needs a registry" >&2; exit 2; }
            registry=${2%/}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ "${#targets[@]}" -gt 0 ] || targets=(cpu)
for t in "${targets[@]}"; do
  case "$t" in cpu|gpu) ;; *) echo "build-images: unknown target '$t' (cpu or gpu)" >&2; exit 2 ;; esac
done

CACHE=${PROGALIGN_CONTAINER_CACHE:-$HOME/.cache/progalign/containers}
LOCK=${PROGALIGN_IMAGES_LOCK:-$ROOT/containers/images.lock.yaml}
PREFIX=${PROGALIGN_IMAGE_PREFIX:-localhost/progalign}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
ENGINE=${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
command -v "$ENGINE" >/dev/null || { echo "build-images: neither podman nor docker found" >&2; exit 1; }
CA=${PROGALIGN_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
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
  dir=$CACHE/wheels-$t-$(sha_of "${reqs[@]}")
  if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
  mkdir -p "$dir"
  if [ "$t" = gpu ] && [ "${GPU_WHEELS:-0}" != 1 ]; then echo "$dir"; return; fi
  local extra=() req_args=()
  [ -n "${PROGALIGN_TORCH_INDEX:-}" ] && [ "$t" = cpu ] && extra+=(--extra-index-url "$PROGALIGN_TORCH_INDEX")
  for r in "${reqs[@]}"; do req_args+=(-r "$r"); done
  log "pip wheel ${reqs[*]} -> $dir"
  "$PY" -m pip wheel --quiet --wheel-dir "$dir" "${extra[@]}" "setuptools>=68" "${req_args[@]}" >&2
  touch "$dir/.complete"
  echo "$dir"
}

publish() {  # $1 target, $2 image tag -> prints "ref sif sif_sha256" (the last two may be -)
  local t=$1 tag=$2 digest
  if [ -n "$registry" ]; then
    local remote=$registry/progalign:$VERSION-$t digestfile
    digestfile=$(mktemp)
    log "push $remote"
    "${engine[@]}" push --digestfile "$digestfile" "$tag" "docker://$remote" >&2
    echo "docker://$registry/progalign@$(cat "$digestfile") - -"
    rm -f "$digestfile"
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
    echo "$out $out $(sha256sum "$out" | cut -d' ' -f1)"
  else
    digest=$(digest_of "$tag")
    echo "docker://${tag%:*}@$digest - -"
  fi
}

record() {  # $1 target, $2 image tag, $3 base, $4 ref, $5 sif, $6 sif sha256
  local t=$1 tag=$2 base=$3 id digest
  id=$("${engine[@]}" image inspect --format '{{.Id}}' "$tag")
  digest=$(digest_of "$tag")
  "$PY" - "$LOCK" "$t" "$tag" "$id" "$digest" "$base" "$ENGINE" "$4" "$5" "$6" <<'EOF'
import datetime, os, sys, yaml
lock, target, tag, image_id, digest, base, engine, ref, sif, sif_sha256 = sys.argv[1:]
name = tag.rsplit(":", 1)[0]
data = yaml.safe_load(open(lock)) if os.path.exists(lock) else None
data = data or {}
entry = data[target] = {
    "ref": ref,
    "local": f"{name}@{digest}",
    "image_id": f"sha256:{image_id.removeprefix('sha256:')}",
    "base": base,
    "built_with": engine,
    "built_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
}
if sif != "-":
    entry.update(sif=sif, sif_sha256=sif_sha256)
head = ("# Written by scripts/build-images.sh: the pinned image of each target (docs/containers.md).\n"
        "# ref: what rules use (workflow/rules/containers.smk); local: the podman/docker reference;\n"
        "# sif + sif_sha256: an Apptainer image built from it, verified before use.\n")
tmp = lock + ".part"
with open(tmp, "w") as f:
    f.write(head)
    yaml.safe_dump(data, f, sort_keys=True)
os.replace(tmp, lock)
print(entry["ref"])
EOF
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
  "${engine[@]}" build "${run_opts[@]}" "${no_cache[@]}" --network host \
    --secret "id=ca,src=$CA" --build-context "wheels=$wheels" \
    --build-arg "BASE_IMAGE=$base" --build-arg "PIP_OPTIONS=$pip_opts" \
    --target "$t" --tag "$tag" -f containers/Dockerfile . >&2
  published=$(publish "$t" "$tag")
  read -r ref sif_path sif_sha <<< "$published"
  pinned=$(record "$t" "$tag" "$base" "$ref" "$sif_path" "$sif_sha")
  log "$t: $pinned ($((SECONDS - start)) s) recorded in $LOCK"
done
