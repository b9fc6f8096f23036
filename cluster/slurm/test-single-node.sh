#!/usr/bin/env bash
# The Slurm recipe on a single-node Slurm from Debian's packages (slurm-wlm, munge), as root:
# writes a one-node slurm.conf, starts munged, slurmctld and slurmd, plans the smoke sweep, runs
# cluster/slurm/sweep.sh and compares its merged comparison with the serial engine's byte for
# byte, then stops the daemons. Not part of .ci/run (it installs system daemons); run it once
# and report:  sudo cluster/slurm/test-single-node.sh target/release/regrasp
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "${1:?usage: $0 REGRASP_BIN}")
command -v slurmctld > /dev/null || apt-get install -y -q slurm-wlm > /dev/null
HOST=$(hostname)
CPUS=$(nproc)
WORK=$(mktemp -d /tmp/regrasp-slurm-XXXX)
mkdir -p /etc/slurm /var/spool/slurmd /var/spool/slurmctld /run/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=regrasp-test
SlurmctldHost=$HOST
AuthType=auth/munge
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$HOST CPUs=$CPUS State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
cleanup() { scancel --user=root 2> /dev/null || true; pkill slurmd || true; pkill slurmctld || true; pkill munged || true; }
trap cleanup EXIT
chown -R munge: /etc/munge /run/munge 2> /dev/null || true
munged --force
slurmctld -c
slurmd
for _ in $(seq 30); do sinfo -h -o %T 2> /dev/null | grep -qE "idle|mixed" && break; sleep 1; done
sinfo
"$BIN" sweep plan examples/sweeps/smoke.toml --out "$WORK/serial" > /dev/null
"$BIN" sweep plan examples/sweeps/smoke.toml --out "$WORK/slurm" > /dev/null
start=$(date +%s.%N)
"$BIN" sweep run "$WORK/serial" > "$WORK/serial.txt" 2> /dev/null
serial_s=$(echo "$(date +%s.%N) - $start" | bc)
start=$(date +%s.%N)
cluster/slurm/sweep.sh "$WORK/slurm" "$BIN" 1
while squeue -h | grep -q .; do sleep 1; done
slurm_s=$(echo "$(date +%s.%N) - $start" | bc)
if cmp -s "$WORK/serial.txt" "$WORK/slurm/comparison.txt"; then
  echo "ok: the Slurm sweep's comparison equals the serial one byte for byte"
else
  diff "$WORK/serial.txt" "$WORK/slurm/comparison.txt" | head -20
  echo "FAILED: the comparisons differ"; exit 1
fi
echo "{\"serial_wall_s\": $serial_s, \"slurm_wall_s\": $slurm_s, \"units\": 8}"
rm -rf "$WORK"
