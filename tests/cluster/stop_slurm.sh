#!/usr/bin/env bash
# Stop the single-node SLURM that tests/cluster/start_slurm.sh started (slurmd, slurmctld, then munged).
# Only the daemons named in the pid files that start_slurm.sh's configuration sets are stopped; the
# configuration and state are kept, so start_slurm.sh brings the same cluster back.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "error: run as root" >&2; exit 1; }
stop() {  # stop <name> <pidfile>: the daemon removes its pid file before it has exited, so wait on the pid
    local pid
    pid=$(cat "$2" 2>/dev/null) || return 0
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then echo "error: $1 (pid $pid) is still running" >&2; exit 1; fi
        echo "stopped $1"
    fi
}
stop slurmd /run/slurmd-dfa.pid
stop slurmctld /run/slurmctld-dfa.pid
stop munged /run/munge/munged.pid
