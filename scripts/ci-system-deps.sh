#!/usr/bin/env bash
# Install the system packages that the container and SLURM tests need (Debian/Ubuntu, as root):
# podman + runc + debootstrap (build and run the CPU image), docker-registry (a loopback registry
# for the image push test), slurmctld + slurmd + slurm-client +
# munge (a one-node SLURM cluster, scripts/slurm-cluster.sh), chromium (the HTML leaderboard's
# browser test). Idempotent: installs only what is missing, never starts a service (the scripts
# start what they need).
set -euo pipefail
packages=(podman runc debootstrap uidmap docker-registry slurmctld slurmd slurm-client munge chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "ci-system-deps: all present (${packages[*]})"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-system-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: packages must not start munge/slurm daemons on install (no systemd here).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ci-system-deps: installed ${missing[*]}"
