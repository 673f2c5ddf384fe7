#!/usr/bin/env bash
# Stop the single-node test cluster started by scripts/slurm-up.sh: cancel its jobs, stop
# slurmd, slurmctld and munged, and leave nothing running. Idempotent.
#
# Settings: MWALIGN_SLURM_DIR and SLURM_CONF, as for scripts/slurm-up.sh.
# Set MWALIGN_SLURM_PURGE=1 to also delete the state folder.
set -euo pipefail

STATE_DIR="${MWALIGN_SLURM_DIR:-/tmp/mwalign-slurm}"
export SLURM_CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
RUN_DIR="$STATE_DIR/run"

log() { echo "slurm-down: $*" >&2; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {
    # Sends TERM to the process in pid file $1, waits up to 20 s, then KILL.
    local pidfile="$1" name="$2" pid i
    pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    pid="$(cat "$pidfile")"
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
        sleep 0.5
    done
    log "$name did not stop after 20 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

cancel_jobs() {
    # Cancels every job of this cluster and waits (up to 30 s) until none is left.
    pid_alive "$RUN_DIR/slurmctld.pid" || return 0
    local ids i
    ids="$(squeue --noheader --format=%A 2>/dev/null || true)"
    [[ -n "$ids" ]] || return 0
    log "cancelling jobs: $(echo "$ids" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    scancel $ids 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        [[ -z "$(squeue --noheader --format=%A 2>/dev/null)" ]] \
            && return 0
        sleep 0.5
    done
    log "jobs still listed after 30 s: stopping the daemons anyway"
}

kill_orphan_steps() {
    # Job steps (slurmstepd) that outlived slurmd belong to this cluster: no other slurmd runs.
    local pid
    pgrep -x slurmd >/dev/null && return 0
    for pid in $(pgrep -x slurmstepd || true); do
        log "killing leftover slurmstepd (pid $pid)"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

main() {
    cancel_jobs
    stop_pidfile "$RUN_DIR/slurmd.pid" slurmd
    stop_pidfile "$RUN_DIR/slurmctld.pid" slurmctld
    kill_orphan_steps
    stop_pidfile "$RUN_DIR/munged.pid" munged
    rm -f "$STATE_DIR/munge/munge.socket" "$STATE_DIR/munge/munge.socket.lock"
    if [[ "${MWALIGN_SLURM_PURGE:-0}" == 1 ]]; then
        rm -rf "$STATE_DIR"
        log "removed $STATE_DIR"
    fi
    log "stopped"
}

main "$@"
