#!/usr/bin/env bash
# slurm_local.sh: a single-node Slurm cluster on localhost, for tests and for
# trying the Slurm path (hydra/launcher=slurm, submitit) on a workstation.
#
#   bash scripts/slurm_local.sh start    # install if needed (as root), start, wait until the node is idle
#   bash scripts/slurm_local.sh status   # daemons, sinfo, squeue; exit 0 if up, 1 if not
#   bash scripts/slurm_local.sh stop     # cancel jobs, stop the daemons; logs stay
#
# It runs munged, slurmctld and slurmd as root, without systemd and without
# cgroups (proctrack/linuxproc, task/none), with one node named `hostname -s`
# and one partition `debug`. `start` needs root: on Debian/Ubuntu it installs
# the packages slurmctld slurmd slurm-client munge with apt-get when they are
# missing (as a non-root user it says so and exits 3).
#
# Everything lives in one state directory, outputs/slurm/ under the repo root
# (git-ignored; override with SLURM_LOCAL_DIR, a relative value is taken from the
# current directory): slurm.conf, env.sh, slurmctld.log, slurmd.log, munged.log,
# *.pid, state/ (StateSaveLocation), spool/ (SlurmdSpoolDir), munge/ (key and
# seed, mode 0700) and munge-run/ (munge socket, mode 0755 so that non-root
# clients can reach it). Nothing is written under /etc, /var or /run, and no
# variable is exported globally. Slurm clients (sbatch, srun, squeue, sinfo,
# scontrol, submitit, the hydra submitit launcher) must find the config
# through SLURM_CONF, so in every shell that talks to this cluster run
#
#   source outputs/slurm/env.sh      # export SLURM_CONF=<abs path>/slurm.conf
#
# slurm.conf also points AuthInfo at the private munge socket, so clients need
# no system munged. Jobs inherit the submitting environment (SLURM_CONF included).
#
# Knobs (environment): SLURM_LOCAL_DIR, SLURM_LOCAL_CPUS (default nproc),
# SLURM_LOCAL_MEM_MB (default 90% of MemTotal), SLURM_LOCAL_CTLD_PORT (6817),
# SLURM_LOCAL_SLURMD_PORT (6818), SLURM_LOCAL_TIMEOUT (seconds `start` waits, 60).
#
# Limits of this toy cluster: no accounting (no slurmdbd), so `sacct` fails and
# submitit logs "Bypassing sacct error ..." and relies on its result files; a job
# killed before writing a result (scancel, time limit, OOM) may leave
# job.result() waiting. No GRES: with hydra/launcher=slurm pass
# hydra.launcher.partition=debug hydra.launcher.gpus_per_node=0 and small
# cpus_per_task/mem_gb values that fit this machine.
#
# On a real cluster change nothing here and do not run this script: SLURM_CONF
# (or /etc/slurm/slurm.conf) is already set up by the admins; the hydra launcher
# (configs/hydra/launcher/slurm.yaml) only needs hydra.launcher.partition=... and,
# where the site requires it, hydra.launcher.account=....
set -euo pipefail

PROG=slurm_local
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# The daemons live in sbin, which non-root PATHs often lack.
export PATH="$PATH:/usr/sbin:/sbin"

STATE_DIR=$(realpath -m -- "${SLURM_LOCAL_DIR:-$REPO_ROOT/outputs/slurm}")
CONF=$STATE_DIR/slurm.conf
ENV_FILE=$STATE_DIR/env.sh
CTLD_STATE=$STATE_DIR/state
SLURMD_SPOOL=$STATE_DIR/spool
MUNGE_DIR=$STATE_DIR/munge
MUNGE_RUN=$STATE_DIR/munge-run
MUNGE_KEY=$MUNGE_DIR/munge.key
MUNGE_SEED=$MUNGE_DIR/munged.seed
MUNGE_SOCKET=$MUNGE_RUN/munge.socket
MUNGED_PID=$STATE_DIR/munged.pid
CTLD_PID=$STATE_DIR/slurmctld.pid
SLURMD_PID=$STATE_DIR/slurmd.pid
MUNGED_LOG=$STATE_DIR/munged.log
CTLD_LOG=$STATE_DIR/slurmctld.log
SLURMD_LOG=$STATE_DIR/slurmd.log

NODE=$(hostname -s)
WAIT_S=${SLURM_LOCAL_TIMEOUT:-60}
PACKAGES=(slurmctld slurmd slurm-client munge)

msg() { echo "$PROG: $*"; }
err() { echo "$PROG: $*" >&2; }

usage() {
    cat >&2 <<EOF
usage: $0 {start|stop|status}
  start   install (as root, when missing) and start munged, slurmctld, slurmd on localhost
  stop    stop the daemons started by this script (the state directory and logs stay)
  status  show the daemons, sinfo and squeue; exit 0 if the cluster is up, 1 if not
state directory: $STATE_DIR (env SLURM_LOCAL_DIR)
EOF
    exit 2
}

# alive PID NAME: PID is a live (not zombie) process called NAME.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # /proc/PID/stat: "PID (COMM) STATE ..."
    [[ $stat == "$1 ($2) "* && $stat != "$1 ($2) Z"* ]]
}

# pid_of NAME PIDFILE: print the pid if the pid file names a live process called NAME.
pid_of() {
    local pid
    pid=$(tr -dc '0-9' 2>/dev/null <"$2") || return 1
    [[ -n $pid ]] && alive "$pid" "$1" || return 1
    echo "$pid"
}

is_running() { pid_of "$1" "$2" >/dev/null; }

# Slurm clients, always against our config.
sl() { SLURM_CONF=$CONF "$@"; }

sinfo_answers() { [[ -r $CONF ]] && sl timeout 10 sinfo -h >/dev/null 2>&1; }

all_running() {
    is_running munged "$MUNGED_PID" && is_running slurmctld "$CTLD_PID" && is_running slurmd "$SLURMD_PID"
}

show_logs() {
    local f
    for f in "$MUNGED_LOG" "$CTLD_LOG" "$SLURMD_LOG"; do
        [[ -f $f ]] || continue
        err "---- last lines of $f ----"
        tail -n 25 "$f" >&2 || true
    done
}

die_with_logs() {
    err "$*"
    show_logs
    exit 1
}

ensure_packages() {
    local missing=() c
    for c in slurmctld slurmd sbatch munged; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        err "missing commands: ${missing[*]}"
        err "install the Debian/Ubuntu packages: ${PACKAGES[*]}, e.g."
        err "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}"
        err "then run: sudo bash $0 start"
        exit 3
    fi
    command -v apt-get >/dev/null 2>&1 || {
        err "missing commands: ${missing[*]} and no apt-get; install Slurm (slurmctld, slurmd, clients) and munge yourself"
        exit 3
    }
    msg "installing ${PACKAGES[*]} (missing: ${missing[*]})"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
    for c in slurmctld slurmd sbatch munged; do
        command -v "$c" >/dev/null 2>&1 || { err "$c still missing after apt-get install"; exit 3; }
    done
}

write_conf() {
    local cpus mem_total_mb mem_mb def_mem ctld_port slurmd_port tmp
    cpus=${SLURM_LOCAL_CPUS:-$(nproc)}
    mem_total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    mem_mb=${SLURM_LOCAL_MEM_MB:-$((mem_total_mb * 90 / 100))}
    def_mem=$((mem_mb / cpus))
    ctld_port=${SLURM_LOCAL_CTLD_PORT:-6817}
    slurmd_port=${SLURM_LOCAL_SLURMD_PORT:-6818}
    tmp=$(mktemp "$STATE_DIR/.slurm.conf.XXXXXX")
    cat >"$tmp" <<EOF
# Generated by scripts/slurm_local.sh: a single-node test cluster on localhost.
# Clients need: export SLURM_CONF=$CONF
ClusterName=local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again
# (default 120 s, too slow for tests).
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=10
StateSaveLocation=$CTLD_STATE
SlurmdSpoolDir=$SLURMD_SPOOL
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$CTLD_LOG
SlurmdLogFile=$SLURMD_LOG
SlurmctldDebug=info
SlurmdDebug=info
# No systemd, no cgroups.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
SchedulerType=sched/backfill
# Test pending jobs every few seconds (requeued jobs, begin times, freed resources).
SchedulerParameters=sched_interval=5,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem
# Short timeouts for quick tests; time limits are enforced by slurmctld
# (a job gets SIGTERM at its limit + OverTimeLimit, SIGKILL KillWait s later).
SlurmctldTimeout=15
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=5
OverTimeLimit=0
MinJobAge=30
ReturnToService=2
# Requeue: sbatch jobs are requeueable by default, scontrol requeue works.
JobRequeue=1
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 0644 "$tmp"
    mv -f "$tmp" "$CONF"
    printf 'export SLURM_CONF=%s\n' "$CONF" >"$ENV_FILE"
    chmod 0644 "$ENV_FILE"
    msg "config $CONF: NodeName=$NODE CPUs=$cpus RealMemory=${mem_mb}MB (MemTotal ${mem_total_mb}MB) DefMemPerCPU=${def_mem}MB"
}

prepare_dirs() {
    mkdir -p "$STATE_DIR" "$CTLD_STATE" "$SLURMD_SPOOL" "$MUNGE_DIR" "$MUNGE_RUN"
    # munged refuses group/world-writable directories; clients must reach the socket.
    chmod 0755 "$STATE_DIR" "$MUNGE_RUN"
    chmod 0700 "$MUNGE_DIR" "$CTLD_STATE" "$SLURMD_SPOOL"
    if [[ ! -s $MUNGE_KEY ]]; then
        rm -f "$MUNGE_KEY"
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE_KEY"
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
        msg "created munge key $MUNGE_KEY"
    fi
    chmod 0600 "$MUNGE_KEY"
}

start_munged() {
    if is_running munged "$MUNGED_PID"; then
        msg "munged already running (pid $(pid_of munged "$MUNGED_PID"))"
        return 0
    fi
    rm -f "$MUNGED_PID"
    msg "starting munged (socket $MUNGE_SOCKET)"
    # --force: run even where munged finds the path insecure (e.g. a group-writable
    # home or repo directory) or a stale socket; fine for a local test cluster.
    munged --force --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" --pid-file="$MUNGED_PID" \
        --log-file="$MUNGED_LOG" --seed-file="$MUNGE_SEED" ||
        die_with_logs "munged failed to start"
    local i
    for ((i = 0; i < 20; i++)); do
        munge -n --socket="$MUNGE_SOCKET" 2>/dev/null | unmunge --socket="$MUNGE_SOCKET" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    die_with_logs "munged does not answer on $MUNGE_SOCKET"
}

start_slurmctld() {
    if is_running slurmctld "$CTLD_PID"; then
        msg "slurmctld already running (pid $(pid_of slurmctld "$CTLD_PID"))"
        return 0
    fi
    rm -f "$CTLD_PID"
    msg "starting slurmctld"
    SLURM_CONF=$CONF slurmctld -f "$CONF" || die_with_logs "slurmctld failed to start"
}

start_slurmd() {
    if is_running slurmd "$SLURMD_PID"; then
        msg "slurmd already running (pid $(pid_of slurmd "$SLURMD_PID"))"
        return 0
    fi
    rm -f "$SLURMD_PID"
    msg "starting slurmd (node $NODE)"
    SLURM_CONF=$CONF slurmd -f "$CONF" -N "$NODE" || die_with_logs "slurmd failed to start"
}

node_state() { sl timeout 10 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1; }

node_ready() {
    case $(node_state) in
        idle | mixed | allocated | completing) return 0 ;;
    esac
    return 1
}

wait_idle() {
    local deadline=$((SECONDS + WAIT_S)) state="" resumed=0 reason
    while ((SECONDS < deadline)); do
        is_running slurmctld "$CTLD_PID" || { sleep 1; is_running slurmctld "$CTLD_PID" || die_with_logs "slurmctld exited"; }
        is_running slurmd "$SLURMD_PID" || { sleep 1; is_running slurmd "$SLURMD_PID" || die_with_logs "slurmd exited"; }
        state=$(node_state) || state=""
        case $state in
            idle | mixed | allocated | completing) return 0 ;;
            drained | draining)
                # A drain recovered from an earlier run (e.g. an old RealMemory):
                # clear it once; a config that is still wrong shows up as "inval".
                if ((resumed == 0)); then
                    reason=$(sl sinfo -h -n "$NODE" -o %E 2>/dev/null) || reason=""
                    msg "node $NODE is $state (reason: ${reason:-none}); resuming it"
                    sl scontrol update NodeName="$NODE" State=RESUME || true
                    resumed=1
                fi
                ;;
        esac
        sleep 1
    done
    err "node $NODE not idle after ${WAIT_S}s (state: ${state:-no answer})"
    sl timeout 10 sinfo -R >&2 2>/dev/null || true
    err "the daemons that started are left running for inspection; run: $0 stop"
    die_with_logs "start failed"
}

cmd_start() {
    if all_running && node_ready; then
        msg "already running (state directory $STATE_DIR)"
        msg "clients need: export SLURM_CONF=$CONF   (or: source $ENV_FILE)"
        return 0
    fi
    ensure_packages
    if [[ $(id -u) -ne 0 ]]; then
        err "the daemons run as root (SlurmUser=root): run  sudo bash $0 start"
        exit 3
    fi
    local t0=$SECONDS
    prepare_dirs
    # Rewrite the config only when no Slurm daemon runs with the old one.
    if is_running slurmctld "$CTLD_PID" || is_running slurmd "$SLURMD_PID"; then
        [[ -r $CONF ]] || { err "daemons run but $CONF is missing; run: $0 stop"; exit 1; }
    else
        write_conf
    fi
    start_munged
    start_slurmctld
    start_slurmd
    wait_idle
    msg "cluster up in $((SECONDS - t0))s: node $NODE, partition debug (state directory $STATE_DIR)"
    sl sinfo || true
    msg "clients (sbatch, srun, squeue, submitit) need SLURM_CONF; run:"
    echo "export SLURM_CONF=$CONF"
    msg "(also in $ENV_FILE: source $ENV_FILE)"
}

# stop_daemon NAME PIDFILE: SIGTERM, wait up to 15 s, then SIGKILL.
stop_daemon() {
    local name=$1 file=$2 pid i
    if ! pid=$(pid_of "$name" "$file"); then
        msg "$name not running"
        rm -f "$file"
        return 0
    fi
    msg "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        alive "$pid" "$name" || break
        sleep 0.25
    done
    if alive "$pid" "$name"; then
        msg "$name (pid $pid) still alive after 15s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            alive "$pid" "$name" || break
            sleep 0.25
        done
    fi
    if alive "$pid" "$name"; then
        err "$name (pid $pid) did not exit"
        return 1
    fi
    rm -f "$file"
}

cmd_stop() {
    local rc=0 i jobs=()
    # Cancel the jobs first, so that no job step outlives slurmd.
    if is_running slurmctld "$CTLD_PID" && sinfo_answers; then
        mapfile -t jobs < <(sl squeue -h -o %i 2>/dev/null)
        if ((${#jobs[@]} > 0)); then
            msg "cancelling jobs: ${jobs[*]}"
            sl scancel --quiet "${jobs[@]}" || true
            for ((i = 0; i < 20; i++)); do
                [[ -z $(sl squeue -h -o %i 2>/dev/null) ]] && break
                sleep 1
            done
        fi
    fi
    stop_daemon slurmd "$SLURMD_PID" || rc=1
    stop_daemon slurmctld "$CTLD_PID" || rc=1
    stop_daemon munged "$MUNGED_PID" || rc=1
    [[ $rc -eq 0 ]] || { err "some daemons did not stop"; exit 1; }
    msg "stopped (state directory and logs kept in $STATE_DIR)"
}

cmd_status() {
    local up=0 name file pid
    for name in munged slurmctld slurmd; do
        case $name in
            munged) file=$MUNGED_PID ;;
            slurmctld) file=$CTLD_PID ;;
            slurmd) file=$SLURMD_PID ;;
        esac
        if pid=$(pid_of "$name" "$file"); then
            msg "$name running (pid $pid)"
        else
            msg "$name not running"
            up=1
        fi
    done
    if sinfo_answers; then
        sl sinfo || true
        sl squeue || true
    else
        msg "sinfo does not answer (SLURM_CONF=$CONF)"
        up=1
    fi
    if [[ $up -eq 0 ]]; then
        msg "up; clients need: export SLURM_CONF=$CONF"
    else
        msg "down"
    fi
    return $up
}

[[ $# -eq 1 ]] || usage
case $1 in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) usage ;;
esac
