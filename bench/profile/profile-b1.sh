#!/bin/sh
# Profile one B1 run of the engine: CPU profile of its main thread, then its syscalls
# (engine threads only, not the scripts). usage: sh bench/profile/profile-b1.sh [N] [VARIANT]
# VARIANT as in run.js --executors (execa, spawner, spawner+smallcopy+pooldirs...).
set -e
N=${1:-2000}
VARIANT=${2:-execa}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/../work/profile
rm -rf "$OUT" && mkdir -p "$OUT"
cd "$OUT"
. "$HERE/b1-fixture.sh"
EXECUTOR=${VARIANT%%+*}
EXPERIMENTS=$(echo "$VARIANT" | sed -n 's/^[^+]*+//p' | tr + ,)
export TASK_PIPELINE_EXECUTOR=$EXECUTOR BENCH_EXPERIMENTS=$EXPERIMENTS
ENTRY=$HERE/../lib/engine-entry.js
STEPS=$((2 * N + 1))
node --cpu-prof --cpu-prof-dir=prof "$ENTRY" -manifest b1.toml -db db -input input.txt -quiet
echo "== CPU profile ($VARIANT, $STEPS steps): self time, main thread"
node "$HERE/cpuprofile-top.js" prof/*.cpuprofile 30
rm -rf db
if command -v strace > /dev/null; then
  mkdir st
  strace -f -ff -o st/t -e trace=file,desc,process node "$ENTRY" -manifest b1.toml -db db -input input.txt -quiet
  echo "== syscalls of the engine process ($VARIANT)"
  node "$HERE/strace-summary.js" st "$STEPS"
else
  echo "strace is missing (apt-get install -y strace): no syscall counts"
fi
