#!/usr/bin/env bash
# User-space cache misses per HTTP request, simul vs tokio current_thread (one loop each),
# by function: callgrind's cache model (`--cache-sim=yes`: L1 32 KiB 8-way, as this
# machine's) on the wrk rows of bench/http.sh. bench/http_counts.sh gives instructions
# alone; this adds D1 read and write misses, which with 100 or 1,000 connections served
# round-robin are mostly the per-connection lines each request touches again after the
# others' requests have evicted them (task, socket registration, timer, hyper's state).
#
#   bash bench/http_cache.sh [SECONDS]        # default 6 s measured per side
#   ONLY=/json CONNS=1000 bash bench/http_cache.sh
#   ROWS=40 bash bench/http_cache.sh          # more functions per side
#   BIN=dir bash bench/http_cache.sh          # other builds of the servers
#
# As http_counts.sh: the server on CPU 0 under valgrind, `wrk -t1` on CPU 1, a warm-up
# run, then callgrind zeroed and dumped around the measured run; the request count is
# wrk's. Misses depend on where the allocator put things, so the same binary moves by
# about 2 D1 misses per request from run to run (and a function's share by up to 1):
# compare several runs before trusting a small difference. A window of few requests
# (a loaded machine) counts its edges' connection set-up and requests in flight against
# fewer requests, up to 2% more per request at 5,000. Needs wrk and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-6}
ONLY=${ONLY:-}
CONNS=${CONNS:-100}
ROWS=${ROWS:-25}
for b in wrk valgrind callgrind_control python3; do
    command -v $b >/dev/null || { echo "bench/http_cache.sh: $b is not installed"; exit 1; }
done
BIN=${BIN:-target/release}
if [ "$BIN" = target/release ]; then
    cargo build --release -q -p simul-bench --bin http_simul --bin http_tokio
fi
tmp=${TMPDIR:-/tmp}/http_cache.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

port=19600
for path in / /json; do
    [ -n "$ONLY" ] && [ "$ONLY" != "$path" ] && continue
    for side in simul tokio; do
        port=$((port + 1))
        taskset -c 0 valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$tmp/cg.%p" \
            "$BIN/http_$side" $port 1 >/dev/null 2>"$tmp/vg.log" &
        vp=$!
        for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
        taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port$path" >/dev/null
        callgrind_control -z $vp >/dev/null
        r=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$port$path" |
            awk '/^ *[0-9]+ requests in/ {print $1}')
        callgrind_control -d $vp >/dev/null
        kill $vp; wait $vp 2>/dev/null || true
        echo "== $side, wrk -c$CONNS $path, $r requests in ${SECS} s"
        python3 bench/py/callgrind_self.py "$tmp/cg.$vp.1" "$r" "$ROWS"
        echo
    done
done
