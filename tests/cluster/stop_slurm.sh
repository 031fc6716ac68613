#!/usr/bin/env bash
# Stop the single-node SLURM that tests/cluster/start_slurm.sh started (slurmd, slurmctld, then munged).
# Only the daemons named in the pid files that start_slurm.sh's configuration sets are stopped; the
# configuration and state are kept, so start_slurm.sh brings the same cluster back.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "error: run as root" >&2; exit 1; }
stop() {  # stop <name> <pidfile>
    if [ -s "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then
        kill "$(cat "$2")"
        for _ in $(seq 20); do kill -0 "$(cat "$2")" 2>/dev/null || break; sleep 0.5; done
        echo "stopped $1"
    fi
}
stop slurmd /run/slurmd-dfa.pid
stop slurmctld /run/slurmctld-dfa.pid
stop munged /run/munge/munged.pid
