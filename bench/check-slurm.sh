#!/usr/bin/env bash
# make check-slurm: a real Slurm on this machine (Debian's slurm-wlm: munged, slurmctld, slurmd), the array job of
# docs/scale-out/repack-array.sbatch with 4 slices of a K2-form checkpoint, `ingot merge`, and a byte-for-byte
# comparison with a single-machine repack. Needs root (it installs packages and starts daemons); not in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ingot=$root/.build/release/ingot
[ "$(id -u)" = 0 ] || { echo "check-slurm needs root (apt-get, munged, slurmd)" >&2; exit 2; }
command -v slurmctld > /dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm > /dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/ingot-slurm.XXXXXX")
conf=$work/etc
mkdir -p "$conf" "$work/spool" "$work/state" "$work/shared"
host=$(hostname -s)
cpus=$(nproc)
cleanup() {
  [ -f "$work/slurmd.pid" ] && kill "$(cat "$work/slurmd.pid")" 2> /dev/null || true
  [ -f "$work/slurmctld.pid" ] && kill "$(cat "$work/slurmctld.pid")" 2> /dev/null || true
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

# munge: the key Slurm's daemons authenticate with.
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key 2> /dev/null || true
  chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge && chown munge:munge /run/munge 2> /dev/null || true
pgrep -x munged > /dev/null || runuser -u munge -- /usr/sbin/munged 2> /dev/null || /usr/sbin/munged --force

cat > "$conf/slurm.conf" << CONF
ClusterName=ingot-check
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmdSpoolDir=$work/spool
StateSaveLocation=$work/state
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$conf/slurm.conf
/usr/sbin/slurmctld -i
/usr/sbin/slurmd
for _ in $(seq 60); do
  sinfo -h -o %T 2> /dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o '%P %D %T' | grep -q idle || { echo "slurmd did not come up:" >&2; tail -20 "$work/slurmd.log" "$work/slurmctld.log" >&2; exit 3; }
echo "slurm: $(sinfo --version), node $host with $cpus CPUs idle"

# A K2-form checkpoint of 5 layers (6 bundle units for 4 slices), repacked once on this machine, then by the array.
"$ingot" synth --preset small --layers 5 --seed 11 -o "$work/shared/model" --quiet
"$ingot" repack "$work/shared/model" -o "$work/single.bundle" --quiet > /dev/null
started=$(date +%s)
INGOT=$ingot sbatch --wait --quiet --array=0-3 --cpus-per-task=1 --mem=0 --output="$work/task-%a.log" \
  docs/scale-out/repack-array.sbatch "$work/shared/model" "$work/shared/k2.bundle"
for i in 0 1 2 3; do
  [ -f "$work/shared/k2.bundle.slice-$i/repack.json" ] || { echo "slice $i missing:" >&2; cat "$work/task-$i.log" >&2; exit 1; }
done
"$ingot" merge "$work"/shared/k2.bundle.slice-* -o "$work/shared/k2.bundle"
echo "array job of 4 tasks and merge: $(( $(date +%s) - started )) s"
if diff -r "$work/single.bundle" "$work/shared/k2.bundle" > "$work/diff.txt"; then
  echo "check-slurm: the merged bundle of 4 Slurm array tasks equals the single-machine repack byte for byte ($(find "$work/single.bundle" -type f | wc -l) files)"
else
  echo "check-slurm: the merged bundle differs from the single-machine repack:" >&2
  head -20 "$work/diff.txt" >&2
  exit 1
fi
