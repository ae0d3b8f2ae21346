#!/bin/sh
# Instructions and CPU of one B1 run, the engine against xargs -P2 on the same files: for the whole
# process tree (perf stat), for the engine's main thread alone (perf stat -i), and per command over
# the whole machine (perf record -a -e instructions: the scripts, the helper, the engine's threads).
# Instruction counts barely move from run to run where wall times on a shared VM swing by 20%.
# usage: sh bench/profile/instructions-b1.sh [N]     (needs perf, Debian package linux-perf)
set -e
N=${1:-2000}
HERE=$(cd "$(dirname "$0")" && pwd)
CLI=$HERE/../../dist/cli/main.js
OUT=$HERE/../work/instructions
mkdir -p "$OUT" && cd "$OUT"
. "$HERE/b1-fixture.sh"
# A new db or tree each run (called in $(...), so a counter would not survive: the clock does).
fresh() { echo "run-$(date +%s%N)"; }
stat_of() { awk -F, '$3 ~ /^instructions/ {i=$1} $3 ~ /^task-clock/ {t=$1} END {printf "%7.0f M instructions %7.0f ms CPU", i/1e6, t}'; }
echo "== B1, N=$N ($((2 * N + 1)) steps)"
d=$(fresh); echo "engine, whole tree:  $(perf stat -x, -e instructions,task-clock -- node "$CLI" -manifest b1.toml -db "$d" -input input.txt -quiet 2>&1 | stat_of)"
d=$(fresh); echo "engine, main thread: $(perf stat -x, -i -e instructions,task-clock -- node "$CLI" -manifest b1.toml -db "$d" -input input.txt -quiet 2>&1 | stat_of)"
d=$(fresh); mkdir -p "$d/lines" "$d/up" "$d/cnt"
echo "xargs, whole tree:   $(perf stat -x, -e instructions,task-clock -- sh xargs.sh "$d" 2>&1 | stat_of)"
echo "== per command, whole machine (millions of instructions)"
d=$(fresh); perf record -q -a -e instructions -c 1000000 -o engine.data -- node "$CLI" -manifest b1.toml -db "$d" -input input.txt -quiet 2>/dev/null
d=$(fresh); mkdir -p "$d/lines" "$d/up" "$d/cnt"
perf record -q -a -e instructions -c 1000000 -o xargs.data -- sh xargs.sh "$d" 2>/dev/null
for f in engine xargs; do
  echo "$f: $(perf report -i $f.data --sort comm --stdio -n 2>/dev/null | awk '!/^#/ && NF >= 3 && $2 > 20 {printf "%s %s  ", $3, $2}')"
done
cd "$HERE" && rm -rf "$OUT"
