#!/usr/bin/env bash
# The multi-loop benchmarks of issue 13, in one run (compare ratios within the run only).
#
#  1. Echo: server CPU per round trip (../shared/bench/echo_cpu.sh: server on cpu0, load
#     generator on cpu1) for 64 B and 4 KiB, 100 and 1,000 connections: the bare-epoll
#     floor, simul with 1 and 2 loops (tcp_echo), tokio multi_thread with 2 workers and two
#     tokio current_thread runtimes on SO_REUSEPORT listeners (loops_echo). Every shape
#     gets the same placement: all of the server's threads on cpu0, so the 2-thread shapes
#     (simul's 2 loops, tokio's mt2 and 2 x current_thread) time-share one CPU. On a
#     loaded machine CPU per round trip varies by 10-30% between runs of one shape, so
#     1b. counts what each 2-thread shape does per round trip (bench/echo_counts.sh:
#     system calls and context switches, which load does not blur), 1,000 x 4 KiB.
#  2. CPU-bound requests: ~50 us of hashing per 64-byte request, 100 connections, server
#     free to use both cores: round trips per second, simul 1 vs 2 loops (and hand-off),
#     tokio multi_thread (2 workers), 2 x tokio current_thread on SO_REUSEPORT.
#  3. Cross-loop spawn round trip (both sides pinned to two CPUs, and to one) and channel
#     throughput vs tokio (simul-bench rows).
#
# usage: bench/loops_bench.sh [SECONDS]   (default 3 per row)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${SIMUL_SHARED:-$root/../shared}/bench
secs=${1:-3}
cd "$root"
cargo build --release -q -p simul-bench --bin loops_echo --bin simul-bench
cargo build --release -q --example tcp_echo
tmp=${TMPDIR:-/tmp}
[ -x "$tmp/limit_epoll" ] || gcc -O2 -o "$tmp/limit_epoll" "$shared/limit_epoll.c"
[ -x "$tmp/loadgen" ] || gcc -O2 -o "$tmp/loadgen" "$shared/loadgen.c"
E=$root/target/release/loops_echo
T=$root/target/release/examples/tcp_echo

echo "== 1. echo: server CPU per round trip (lower is better)"
for conns in 100 1000; do
  for size in 64 4096; do
    echo "-- $conns connections, $size B"
    bash "$shared/echo_cpu.sh" "$conns" "$size" "$secs" \
      floor="$tmp/limit_epoll" \
      simul-1loop="$T" \
      simul-2loops="$T --loops 2" \
      tokio-mt2="$E tokio-mt 2" \
      tokio-2xct-rp="$E tokio-rp 2"
  done
done

echo "== 1b. echo: system calls and context switches per round trip"
bash "$here/echo_counts.sh" 1000 4096 "$secs" \
  floor="$tmp/limit_epoll" \
  simul-2loops="$T --loops 2" \
  simul-2loops-le="$E simul 2" \
  tokio-2xct-rp="$E tokio-rp 2"

echo "== 2. CPU-bound requests (~50 us each): round trips per second (higher is better)"
# median of 5 calibrations (a single one can be far off on a busy machine)
rounds=$(for _ in 1 2 3 4 5; do "$E" calibrate 50; done | sort -n | sed -n 3p)
echo "   ($rounds hashing rounds per 64-byte request)"
port=19400
for row in "simul-1loop=simul 1" "simul-2loops=simul 2" "simul-2-handoff=simul-handoff 2" \
           "tokio-mt2=tokio-mt 2" "tokio-2xct-rp=tokio-rp 2"; do
  name=${row%%=*}; shape=${row#*=}; port=$((port + 1))
  "$E" "$port" $shape "$rounds" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  out=$("$tmp/loadgen" 127.0.0.1 "$port" 100 64 "$secs" 2>&1 | tail -1)
  printf '%-16s %s\n' "$name" "$out"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
done

echo "== 3. cross-loop spawn and channel (time, lower is better)"
"$root/target/release/simul-bench" --only cross_spawn,cross_spawn_1cpu,cross_spawn_mt,cross_channel,cross_channel_mt --rt simul --rt tokio --repeat 5
