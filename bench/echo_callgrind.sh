#!/usr/bin/env bash
# User-space instructions per echo round trip under callgrind, exact and load-independent.
# The server runs under valgrind on cpu0; bench/cgload.c (cpu1) connects CONNS, warms up,
# waits until no message is in flight, zeroes callgrind's counters, runs MEAS seconds,
# drains again and dumps: every round trip counted lies wholly inside the window.
#
# usage: bench/echo_callgrind.sh CONNS SIZE name='server command' ...   (WARM=1 MEAS=4 s)
#        VG='--cache-sim=yes' bench/echo_callgrind.sh ...   (extra valgrind options; with the
#        cache model, KEEP=1 and bench/py/callgrind_self.py DUMP ROUND_TRIPS give D1 misses by function)
# example: bench/echo_callgrind.sh 100 64 s2='target/release/examples/tcp_echo --loops 2' \
#            rp='target/release/loops_echo tokio-rp 2'
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=${TMPDIR:-/tmp}
[ -x "$tmp/cgload" ] || gcc -O2 -o "$tmp/cgload" "$here/cgload.c"
conns=$1; size=$2; shift 2
port=19900
for s in "$@"; do
  name=${s%%=*}; cmd=${s#*=}; port=$((port + 1))
  set -- $cmd; prog=$1; shift
  out=$tmp/echo_callgrind.$$.$name
  taskset -c 0 valgrind --tool=callgrind ${VG:-} --callgrind-out-file="$out.%p" "$prog" "$port" "$@" \
    >/dev/null 2>"$out.log" &
  vp=$!
  for _ in $(seq 150); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
  rts=$(taskset -c 1 "$tmp/cgload" "$port" "$conns" "$size" "${WARM:-1}" "${MEAS:-4}" "$vp" | awk '{print $2}')
  kill "$vp"; wait "$vp" 2>/dev/null
  ir=$(awk '/^totals:/ {print $2}' "$out.$vp.1")
  awk -v n="$name" -v ir="$ir" -v r="$rts" -v c="$conns" -v z="$size" \
    'BEGIN { printf "%-14s %5d x %5d B  round trips %7d  Ir/rt %7.0f\n", n, c, z, r, ir / r }'
  [ -n "${KEEP:-}" ] || rm -f "$out".*
done
