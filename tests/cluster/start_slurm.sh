#!/usr/bin/env bash
# Start a real single-node SLURM on this machine (Debian's slurm-wlm + munge), for `make test-cluster`.
#
#   sudo apt-get update && sudo apt-get install -y slurm-wlm munge   # once
#   sudo tests/cluster/start_slurm.sh                                 # idempotent; stop: tests/cluster/stop_slurm.sh
#
# The node is this host with the CPU count and memory that `slurmd -C` measures. The settings are the ones
# that work on a bare machine (no cgroups, no accounting database):
#   SelectType=select/cons_tres     CPUs and memory are consumable: jobs share the node, as on a cluster
#   ProctrackType=proctrack/linuxproc, TaskPlugin=task/none   no cgroup plugins needed
#   AccountingStorageType=none      so `sacct` knows nothing: Snakemake's SLURM executor must ask `squeue`
#   MinJobAge=600                   (slurm-status-command: squeue in profiles/slurm), which sees a finished
#                                   job only while slurmctld keeps it, MinJobAge seconds; the executor
#                                   falls back to sacct when MinJobAge < 120 s
# An existing slurm.conf that this script did not write is never overwritten.
set -euo pipefail

CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
MARK="# written by tests/cluster/start_slurm.sh"
SPOOL=/var/spool/slurm-dfa
LOGS=/var/log/slurm-dfa

for tool in munged slurmctld slurmd scontrol sinfo; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found; install it: apt-get install -y slurm-wlm munge" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "error: run as root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }

node=$(slurmd -C | head -n 1)  # NodeName=<host> CPUs=... RealMemory=...: this machine as slurmd sees it
host=$(hostname -s)
wanted=$(cat <<EOF
$MARK
ClusterName=dfa
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=/run/slurmctld-dfa.pid
SlurmdPidFile=/run/slurmd-dfa.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
SlurmdTimeout=300
$node State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
)

if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
    echo "error: $CONF exists and was not written by this script; refusing to overwrite it" >&2
    exit 1
fi
restart=0
if [ ! -e "$CONF" ] || [ "$(cat "$CONF")" != "$wanted" ]; then
    mkdir -p "$(dirname "$CONF")"
    printf '%s\n' "$wanted" >"$CONF"
    restart=1  # a changed configuration needs fresh daemons
    echo "wrote $CONF ($node)"
fi
mkdir -p "$SPOOL/ctld" "$SPOOL/d" "$LOGS"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# munge: the authentication every SLURM message carries
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged
    echo "started munged"
fi

if [ "$restart" = 1 ]; then
    for pidfile in /run/slurmd-dfa.pid /run/slurmctld-dfa.pid; do
        if alive "$pidfile"; then kill "$(cat "$pidfile")"; sleep 1; fi
    done
fi
if ! alive /run/slurmctld-dfa.pid; then
    slurmctld -f "$CONF"
    echo "started slurmctld"
fi
if ! alive /run/slurmd-dfa.pid; then
    slurmd -f "$CONF"
    echo "started slurmd"
fi

# Wait for the node to register; a node left DOWN by an earlier stop is resumed.
export SLURM_CONF="$CONF"
for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1 || true)
    case "$state" in
        idle | mixed | allocated | completing) echo "SLURM is up: node $host $state"; exit 0 ;;
        down* | drain* | drained*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
done
echo "error: node $host did not come up (state: ${state:-none}); see $LOGS/slurmctld.log and $LOGS/slurmd.log" >&2
exit 1
