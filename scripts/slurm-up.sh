#!/usr/bin/env bash
# Bring up a single-node SLURM cluster on loopback, for testing the slurm profile.
#
# Idempotent: a cluster that is already up and configured the same way is left alone.
# Needs root (it installs Debian's slurm-wlm and munge when missing and runs the daemons
# as root, without systemd). Stop everything with scripts/slurm-down.sh.
#
# The node is called `localhost`, has every CPU of this machine, ~90% of its memory and one
# fake GPU (gres gpu:1 backed by /dev/null) so jobs asking for --gpus=1 can be scheduled.
#
# Settings (environment variables):
#   MWALIGN_SLURM_DIR      state, logs, pid files and munge socket   [/tmp/mwalign-slurm]
#   SLURM_CONF             where slurm.conf is written (gres.conf and cgroup.conf go next to
#                          it); SLURM commands read this variable    [/etc/slurm/slurm.conf]
#   MWALIGN_SLURM_CPUS     CPUs of the node                          [nproc]
#   MWALIGN_SLURM_MEM_MB   RealMemory of the node in MB              [90% of MemTotal]
#   MWALIGN_SLURM_GPUS     fake GPUs on the node                     [1]
#   MWALIGN_SLURM_TIMEOUT  seconds to wait for the node to be idle   [60]
set -euo pipefail

STATE_DIR="${MWALIGN_SLURM_DIR:-/tmp/mwalign-slurm}"
CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
CONF_DIR="$(dirname "$CONF")"
CPUS="${MWALIGN_SLURM_CPUS:-$(nproc)}"
MEM_MB="${MWALIGN_SLURM_MEM_MB:-$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)}"
GPUS="${MWALIGN_SLURM_GPUS:-1}"
TIMEOUT="${MWALIGN_SLURM_TIMEOUT:-60}"
MARKER="# Written by scripts/slurm-up.sh of multiway-align: a single-node test cluster."
MUNGE_SOCKET="$STATE_DIR/munge/munge.socket"

log() { echo "slurm-up: $*" >&2; }
die() { log "error: $*"; exit 1; }

node_state() { sinfo --noheader --nodes=localhost --format=%T 2>/dev/null | head -n 1; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sinfo >/dev/null; then
        return
    fi
    log "installing Debian packages slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_configs() {
    # Writes slurm.conf, gres.conf and cgroup.conf into $1.
    local out="$1"
    cat >"$out/slurm.conf" <<EOF
$MARKER
ClusterName=mwalign
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Memory booked for a job that asks for none (not enforced: no cgroups), so such jobs share the node.
DefMemPerCPU=1024
# Finished jobs stay visible to squeue for 10 minutes: the executor polls with squeue.
MinJobAge=600
ReturnToService=2
GresTypes=gpu
NodeName=localhost NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:$GPUS State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$out/gres.conf" <<EOF
$MARKER
NodeName=localhost Name=gpu File=/dev/null Count=$GPUS
EOF
    cat >"$out/cgroup.conf" <<EOF
$MARKER
# Processes are tracked without cgroups (proctrack/linuxproc, task/none).
CgroupAutomount=no
EOF
}

configs_differ() {
    local new="$1" name
    for name in slurm.conf gres.conf cgroup.conf; do
        cmp -s "$new/$name" "$CONF_DIR/$name" || return 0
    done
    return 1
}

install_configs() {
    # Refuses to overwrite a slurm.conf that this script did not write.
    if [[ -f "$CONF" ]] && ! grep -qxF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script; set SLURM_CONF to another path"
    fi
    local new
    new="$(mktemp -d)"
    write_configs "$new"
    if configs_differ "$new"; then
        if pid_alive "$STATE_DIR/run/slurmctld.pid" || pid_alive "$STATE_DIR/run/slurmd.pid"; then
            log "configuration changed: restarting the cluster"
            "$(dirname "$0")/slurm-down.sh"
        fi
        mkdir -p "$CONF_DIR"
        cp "$new/slurm.conf" "$new/gres.conf" "$new/cgroup.conf" "$CONF_DIR/"
        log "wrote $CONF_DIR/{slurm,gres,cgroup}.conf"
    fi
    rm -rf "$new"
}

start_munge() {
    if [[ -S "$MUNGE_SOCKET" ]] && munge -n -S "$MUNGE_SOCKET" 2>/dev/null \
        | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
        return
    fi
    local dir="$STATE_DIR/munge"
    mkdir -p "$dir"
    chmod 0711 "$dir"
    if [[ ! -f "$dir/munge.key" ]]; then
        if [[ -f /etc/munge/munge.key ]]; then
            cp /etc/munge/munge.key "$dir/munge.key"
        else
            dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
        fi
    fi
    chmod 0400 "$dir/munge.key"
    log "starting munged"
    munged --force --socket="$MUNGE_SOCKET" --key-file="$dir/munge.key" \
        --pid-file="$STATE_DIR/run/munged.pid" --log-file="$STATE_DIR/log/munged.log" \
        --seed-file="$dir/munged.seed"
}

start_slurm() {
    if ! pid_alive "$STATE_DIR/run/slurmctld.pid"; then
        log "starting slurmctld"
        # -c: a throwaway cluster starts without the jobs of an earlier run.
        slurmctld -c
    fi
    if ! pid_alive "$STATE_DIR/run/slurmd.pid"; then
        log "starting slurmd"
        slurmd -N localhost
    fi
}

wait_for_idle() {
    local waited=0 state
    while ((waited < TIMEOUT)); do
        state="$(node_state)"
        case "$state" in
            idle | mixed | allocated | completing)
                log "node localhost is $state"
                return ;;
            drained | draining | down* | drain*)
                scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
        esac
        sleep 1
        waited=$((waited + 1))
    done
    die "node localhost not idle after ${TIMEOUT}s (state '${state:-none}'); see $STATE_DIR/log/"
}

main() {
    [[ "$(id -u)" -eq 0 ]] || die "must run as root (it installs packages and starts daemons)"
    export SLURM_CONF="$CONF"
    install_packages
    mkdir -p "$STATE_DIR"/{run,log,slurmctld,slurmd}
    install_configs
    start_munge
    start_slurm
    wait_for_idle
}

main "$@"
