#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the `slurm` tests
# (tests/support/slurm_cluster.py) and for trying the Slurm executor by hand
# (docs/development.md, "Slurm test cluster"). Needs root.
#   scripts/slurm_local.sh install   Debian's slurmctld, slurmd, slurm-client and munge, when missing
#   scripts/slurm_local.sh start     write /etc/slurm/slurm.conf, start munged, slurmctld, slurmd
#   scripts/slurm_local.sh stop      cancel the jobs, stop the daemons (the packages stay)
#   scripts/slurm_local.sh status    the daemons, the node, whether the hidden folder is hidden
# slurmd (and so every job) runs in its own mount namespace in which HIDDEN_DIR is an
# empty tmpfs: a folder the server can write and a job cannot see, for the executor's
# "WORK_DIR must be visible from a job" check. Everything else is shared as on the host.
set -euo pipefail

PARTITION=studio
HIDDEN_DIR=/var/tmp/studio-slurm-hidden
CONF=/etc/slurm/slurm.conf
CONF_MARK="# Written by scripts/slurm_local.sh"
LOG_DIR=/var/log/slurm
STATE_DIR=/var/lib/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_KEY=/etc/munge/munge.key
MUNGE_LOG=/var/log/munge/munged.log
READY_SECONDS=90
NODE="$(hostname -s)"

die() { echo "slurm_local.sh: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "needs root (it starts slurmctld, slurmd and munged)"; }

# The one list of what the cluster needs: a command each package provides.
missing_packages() {
  local missing=()
  command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
  command -v slurmd >/dev/null 2>&1 || missing+=(slurmd)
  command -v sbatch >/dev/null 2>&1 || missing+=(slurm-client)
  command -v munged >/dev/null 2>&1 || missing+=(munge)
  echo "${missing[@]}"
}

install() {
  local missing
  missing="$(missing_packages)"
  [ -n "$missing" ] || { echo "slurm and munge are installed"; return 0; }
  need_root
  echo "installing $missing" >&2
  # shellcheck disable=SC2086  # one word a package
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# The pid in a pid file when that process is alive.
live_pid() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

munge_alive() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

write_conf() {
  # slurmd -C: this machine's CPUs, sockets, cores and memory, exactly as slurmd will
  # count them (a node configured with more than it has is drained).
  local node_line
  node_line="$(slurmd -C | head -n 1)"
  [[ "$node_line" == "NodeName=$NODE "* ]] || die "slurmd -C says '$node_line', not NodeName=$NODE"
  if [ -e "$CONF" ] && ! head -n 1 "$CONF" | grep -qF "$CONF_MARK"; then
    die "$CONF was not written by this script: this machine has its own Slurm; not touching it"
  fi
  mkdir -p "$(dirname "$CONF")"
  cat >"$CONF.new" <<EOF
$CONF_MARK: a one-node test cluster
# (docs/development.md, "Slurm test cluster"). Rewritten by every start.
ClusterName=studio
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# No cgroups in a container: processes tracked by their parent, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
# Start estimates (squeue --start) within 5 s of a submission rather than the default 30.
SchedulerParameters=bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Finished jobs stay in scontrol show job for 10 minutes (there is no accounting daemon).
MinJobAge=600
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if cmp -s "$CONF.new" "$CONF"; then
    rm -f "$CONF.new"
    return 1  # unchanged
  fi
  mv "$CONF.new" "$CONF"
}

start_munge() {
  munge_alive && return 0
  if [ ! -s "$MUNGE_KEY" ]; then
    mkdir -p "$(dirname "$MUNGE_KEY")"
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chmod 0400 "$MUNGE_KEY"
  # --force: munged refuses to run as root otherwise (it still warns that the
  # package's munge-owned folders are "insecure" for root: harmless).
  munged --force
}

# True when slurmd runs in a mount namespace other than this shell's (so HIDDEN_DIR is hidden).
slurmd_in_own_namespace() {
  local pid
  pid="$(live_pid "$SLURMD_PID")" || return 1
  [ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
}

start_slurmd() {
  mkdir -p "$HIDDEN_DIR" "$STATE_DIR/slurmd"
  # A private mount namespace: the tmpfs over HIDDEN_DIR exists for slurmd and its
  # jobs only; the host still sees (and writes) the folder underneath.
  unshare --mount --propagation private sh -c \
    'mount -t tmpfs -o size=1m,mode=0755 studio-slurm-hidden "$1" && exec slurmd' sh "$HIDDEN_DIR"
}

# Asks a daemon to stop (SIGTERM), waits, then SIGKILL.
stop_pid() {
  local pid="$1" name="$2"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "$name ($pid) did not stop in 10 s: SIGKILL" >&2
  kill -9 "$pid" 2>/dev/null || true
}

node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n 1 || true; }

logs_tail() {
  local log
  for log in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" "$MUNGE_LOG"; do
    [ -s "$log" ] && { echo "--- last lines of $log"; tail -n 15 "$log"; }
  done
  return 0
}

wait_ready() {
  local state="" since=$SECONDS
  while [ $((SECONDS - since)) -lt "$READY_SECONDS" ]; do
    # The daemons fork before they read their ports: one that died says so in its log.
    if [ $((SECONDS - since)) -ge 3 ] && ! { live_pid "$CTLD_PID" && live_pid "$SLURMD_PID"; } >/dev/null; then
      { echo "slurmctld or slurmd exited while starting"; logs_tail; } >&2
      exit 1
    fi
    # Both daemons answering, not only the controller's saved idea of the node.
    state="$(node_state)"
    scontrol ping >/dev/null 2>&1 && scontrol show slurmd >/dev/null 2>&1 || state="${state:-no answer}, a daemon not answering"
    case "$state" in
      # Ready: idle, or busy with jobs when start runs again on a working cluster.
      idle|mixed|allocated|completing) echo "node $NODE is $state in partition $PARTITION"; return 0 ;;
      down|drained|draining) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
  done
  { echo "node $NODE not ready within $READY_SECONDS s (sinfo: '${state:-no answer}')"; logs_tail; } >&2
  exit 1
}

start() {
  need_root
  [ -z "$(missing_packages)" ] || die "not installed: $(missing_packages) (scripts/slurm_local.sh install)"
  mkdir -p "$LOG_DIR" "$STATE_DIR/slurmctld"
  if write_conf && { live_pid "$CTLD_PID" || live_pid "$SLURMD_PID"; } >/dev/null; then
    echo "slurm.conf changed: restarting the daemons" >&2
    stop_daemons
  fi
  start_munge || { logs_tail >&2; die "munged did not start"; }
  if ! live_pid "$CTLD_PID" >/dev/null; then
    slurmctld || { logs_tail >&2; die "slurmctld did not start"; }
  fi
  if live_pid "$SLURMD_PID" >/dev/null && ! slurmd_in_own_namespace; then
    echo "slurmd runs in the host's mount namespace: restarting it in its own" >&2
    stop_pid "$(live_pid "$SLURMD_PID")" slurmd
  fi
  if ! live_pid "$SLURMD_PID" >/dev/null; then
    start_slurmd || { logs_tail >&2; die "slurmd did not start"; }
  fi
  wait_ready
}

stop_daemons() {
  local pid
  if pid="$(live_pid "$CTLD_PID")"; then
    # Jobs first, so no slurmstepd outlives the cluster.
    local jobs
    jobs="$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
    if [ -n "${jobs// /}" ]; then
      # shellcheck disable=SC2086  # one word a job id
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 1 100); do
        [ -z "$(squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null)" ] && break
        sleep 0.1
      done
    fi
    stop_pid "$pid" slurmctld
  fi
  if pid="$(live_pid "$SLURMD_PID")"; then stop_pid "$pid" slurmd; fi
}

stop() {
  need_root
  stop_daemons
  if munge_alive; then munged --stop >/dev/null 2>&1 || true; fi
  echo "slurm stopped"
}

status() {
  local ok=0 pid
  if pid="$(live_pid "$CTLD_PID")"; then echo "slurmctld: running ($pid)"; else echo "slurmctld: stopped"; ok=3; fi
  if pid="$(live_pid "$SLURMD_PID")"; then
    if slurmd_in_own_namespace; then
      echo "slurmd: running ($pid), $HIDDEN_DIR hidden from jobs"
    else
      echo "slurmd: running ($pid) in the host's mount namespace: $HIDDEN_DIR NOT hidden"; ok=3
    fi
  else
    echo "slurmd: stopped"; ok=3
  fi
  if munge_alive; then echo "munged: running"; else echo "munged: stopped"; ok=3; fi
  [ "$ok" = 0 ] && echo "node $NODE: $(node_state)"
  return "$ok"
}

case "${1:-}" in
  install|start|stop|status) "$1" ;;
  *) echo "usage: scripts/slurm_local.sh install|start|stop|status" >&2; exit 2 ;;
esac
