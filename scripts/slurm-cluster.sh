#!/usr/bin/env bash
# A real SLURM cluster on 127.0.0.1 for tests and demos (docs/slurm.md; run as root): one node,
# or $PROGALIGN_SLURM_NODES nodes (one slurmd each, all on this machine) for multi-node jobs.
#
#   scripts/slurm-cluster.sh start|stop|status|env
#
# start   munged + slurmctld + slurmd with a generated munge key and slurm.conf; idempotent (a
#         running cluster is left as is); waits until the node is idle; prints `export SLURM_CONF=…`
# stop    stops the daemons by their pid files (never by name); idempotent
# status  exit 0 when all three daemons run, and prints sinfo
# env     prints the `export SLURM_CONF=…` line (eval "$(scripts/slurm-cluster.sh env)")
#
# Everything lives in $PROGALIGN_SLURM_STATE (default ${XDG_RUNTIME_DIR:-/tmp}/progalign-slurm):
# slurm.conf, the munge key and socket, pid files, spool, state and logs. Clients use SLURM_CONF,
# and /etc/slurm/slurm.conf is a symlink to it while the cluster runs: the SLURM executor's job
# step drops SLURM_* variables before its nested `srun`, which then reads the default path. An
# /etc/slurm/slurm.conf that is not such a link (a real cluster) is never replaced, and only one
# of these clusters runs at a time. Ports: $PROGALIGN_SLURM_PORT (slurmctld, default 6817) and the
# next ones (one slurmd per node). Nodes: $PROGALIGN_SLURM_NODES (default 1) slurmd daemons, all on
# this machine with NodeAddr=127.0.0.1 and a port each (names below); they share out the CPUs and
# 80 % of the memory (so a 2-node cluster on 2 cores has 1 CPU per node).
# GPUs: $PROGALIGN_SLURM_GPUS (default 0) stand-in GPUs per node: GRES `gpu` backed by empty files
# in $STATE/gpus (no devices; jobs see CUDA_VISIBLE_DEVICES empty), so that `--gres=gpu:G` and
# `--gpus=G` jobs are scheduled as on a GPU cluster while they compute on the CPU.
# Needs slurmctld, slurmd, slurm-client, munge (scripts/ci-system-deps.sh).
set -euo pipefail
STATE=${PROGALIGN_SLURM_STATE:-${XDG_RUNTIME_DIR:-/tmp}/progalign-slurm}
PORT=${PROGALIGN_SLURM_PORT:-6817}
NODES=${PROGALIGN_SLURM_NODES:-1}
GPUS=${PROGALIGN_SLURM_GPUS:-0}
[[ "$NODES" =~ ^[1-9][0-9]*$ ]] || { echo "slurm-cluster: PROGALIGN_SLURM_NODES=$NODES is not a positive integer" >&2; exit 2; }
[[ "$GPUS" =~ ^[0-9]+$ ]] || { echo "slurm-cluster: PROGALIGN_SLURM_GPUS=$GPUS is not a count" >&2; exit 2; }
CONF=$STATE/slurm.conf
ETC_CONF=${PROGALIGN_SLURM_ETC_CONF:-/etc/slurm/slurm.conf}
# One node: `localhost`. Several: this machine's short host name, then NAME2, NAME3, ... (SLURM
# cannot name the first of several nodes `localhost`: its node lookup maps any name to a lone
# `localhost` record). Either way the first node's name resolves, as srun jobs take it for
# their main address.
HOST=$(hostname -s)
node_name() {
  if [ "$NODES" -eq 1 ]; then echo localhost
  elif [ "$1" -eq 1 ]; then echo "$HOST"
  else echo "$HOST$1"; fi
}
NODE_NAMES=()
for ((i = 1; i <= NODES; i++)); do NODE_NAMES+=("$(node_name "$i")"); done
# Daemons as pid-file-stem:process (pid file $STATE/STEM.pid), in stop order; start is the reverse.
DAEMONS=()
for name in "${NODE_NAMES[@]}"; do DAEMONS+=("slurmd.$name:slurmd"); done
DAEMONS+=("slurmctld:slurmctld" "munged:munged")
export SLURM_CONF=$CONF

die() { echo "slurm-cluster: $*" >&2; exit 1; }
pidfile() { echo "$STATE/$1.pid"; }
running() {  # $1 stem:process: the pid file STEM.pid names a live process of that name
  local f pid
  f=$(pidfile "${1%%:*}")
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "${1##*:}" ]
}
all_running() { for d in "${DAEMONS[@]}"; do running "$d" || return 1; done; }
wait_for() {  # $1 seconds, $2... command: retry until it succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}
nodes_ready() {  # every node is up (idle, mixed or allocated)
  local states
  states=$(sinfo -h -N -o '%T' 2>/dev/null) || return 1
  [ "$(grep -Ec '^(idle|mixed|allocated)' <<<"$states")" -eq "$NODES" ]
}

link_etc_conf() {  # point ETC_CONF at our slurm.conf, unless it is a real or a live cluster's
  if [ -L "$ETC_CONF" ]; then
    local other
    other=$(readlink "$ETC_CONF")
    if [ "$other" != "$CONF" ] && [ -e "$other" ]; then
      local pid
      pid=$(cat "$(dirname "$other")/slurmctld.pid" 2>/dev/null || true)
      if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slurmctld ]; then
        die "another one-node cluster runs ($(dirname "$other")): stop it first"
      fi
    fi
  elif [ -e "$ETC_CONF" ]; then
    die "$ETC_CONF exists and is not ours: this machine has a SLURM set-up already"
  fi
  mkdir -p "$(dirname "$ETC_CONF")"
  ln -sfn "$CONF" "$ETC_CONF"
}

write_conf() {
  local mem cpus nodes="" i gres="" gres_types=""
  if [ "$GPUS" -gt 0 ]; then
    mkdir -p "$STATE/gpus"
    for ((i = 0; i < GPUS; i++)); do : > "$STATE/gpus/gpu$i"; done
    echo "Name=gpu File=$STATE/gpus/gpu[0-$((GPUS - 1))]" > "$STATE/gres.conf"
    gres=" Gres=gpu:$GPUS"
    gres_types="GresTypes=gpu"
  else
    rm -f "$STATE/gres.conf"
  fi
  mem=$(awk -v n="$NODES" '/MemTotal/ {print int($2 / 1024 * 0.8 / n)}' /proc/meminfo)
  cpus=$(($(nproc) / NODES))
  [ "$cpus" -ge 1 ] || die "$NODES nodes on $(nproc) CPUs: at most one node per CPU"
  for ((i = 1; i <= NODES; i++)); do
    nodes+="NodeName=$(node_name "$i") NodeAddr=127.0.0.1"
    nodes+=" Port=$((PORT + i)) CPUs=$cpus RealMemory=$mem$gres State=UNKNOWN"$'\n'
  done
  cat > "$CONF.part" <<EOF
# Generated by scripts/slurm-cluster.sh: $NODES node(s) on loopback, no accounting.
ClusterName=progalign
$gres_types
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket.2
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue for 10 min: the executor plugin polls squeue (no sacct).
MinJobAge=600
ReturnToService=2
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$(pidfile slurmctld)
SlurmdPidFile=$STATE/slurmd.%n.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.%n.log
${nodes}PartitionName=debug Nodes=$(IFS=,; echo "${NODE_NAMES[*]}") Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.part" "$CONF"
}

start() {
  if all_running; then
    echo "slurm-cluster: already running ($STATE)"
  else
    [ "$(id -u)" -eq 0 ] || die "must run as root (SlurmUser=root, munged --force)"
    for b in munged slurmctld slurmd sinfo sbatch; do
      command -v "$b" >/dev/null || die "$b not found: run scripts/ci-system-deps.sh"
    done
    stop >/dev/null  # a half-started cluster: start afresh
    link_etc_conf
    mkdir -p "$STATE" "$STATE/munge" "$STATE/ctld" "$STATE/slurmd"
    chmod 0700 "$STATE" "$STATE/munge"
    if [ ! -s "$STATE/munge/munge.key" ]; then
      head -c 1024 /dev/urandom > "$STATE/munge/munge.key"
      chmod 0400 "$STATE/munge/munge.key"
    fi
    if [ "$NODES" -gt 1 ]; then
      getent hosts "$HOST" >/dev/null || die "host name $HOST does not resolve (first node's name)"
    fi
    write_conf
    munged --force --key-file "$STATE/munge/munge.key" --socket "$STATE/munge/munge.socket.2" \
      --pid-file "$(pidfile munged)" --log-file "$STATE/munged.log" \
      --seed-file "$STATE/munge/munged.seed" \
      || die "munged did not start (see $STATE/munged.log)"
    wait_for 10 test -S "$STATE/munge/munge.socket.2" || die "munged socket missing ($STATE/munged.log)"
    slurmctld -f "$CONF" || die "slurmctld did not start (see $STATE/slurmctld.log)"
    for name in "${NODE_NAMES[@]}"; do
      slurmd -f "$CONF" -N "$name" || die "slurmd $name did not start (see $STATE/slurmd.$name.log)"
    done
  fi
  if ! wait_for 60 nodes_ready; then
    # A node left DOWN by an earlier unclean stop: resume it once.
    scontrol update NodeName="$(IFS=,; echo "${NODE_NAMES[*]}")" State=RESUME >/dev/null 2>&1 || true
    wait_for 30 nodes_ready || die "nodes not idle after 90 s: $(sinfo -h -N 2>&1); see $STATE/*.log"
  fi
  echo "slurm-cluster: up ($(sinfo -h -o '%P %D %T %c cpus %m MB')); export SLURM_CONF=$CONF"
}

stop() {  # every slurmd with a pid file here (whatever PROGALIGN_SLURM_NODES was), then the rest
  local d f pid stems=()
  for f in "$STATE"/slurmd.*.pid; do
    if [ -e "$f" ]; then stems+=("$(basename "$f" .pid):slurmd"); fi
  done
  for d in "${DAEMONS[@]}"; do
    [[ " ${stems[*]} " == *" $d "* ]] || stems+=("$d")
  done
  for d in "${stems[@]}"; do
    f=$(pidfile "${d%%:*}")
    if running "$d"; then
      pid=$(cat "$f")
      kill "$pid"
      wait_for 20 test ! -e "/proc/$pid" || { kill -9 "$pid" 2>/dev/null || true; }
      echo "slurm-cluster: stopped ${d%%:*} ($pid)"
    fi
    rm -f "$f"
  done
  if [ -L "$ETC_CONF" ] && [ "$(readlink "$ETC_CONF")" = "$CONF" ]; then rm -f "$ETC_CONF"; fi
}

status() {
  local d f rc=0
  for d in "${DAEMONS[@]}"; do
    f=$(pidfile "${d%%:*}")
    if running "$d"; then echo "${d%%:*}: running ($(cat "$f"))"; else echo "${d%%:*}: stopped"; rc=1; fi
  done
  [ "$rc" -ne 0 ] || sinfo
  return "$rc"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
