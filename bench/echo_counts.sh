#!/usr/bin/env bash
# What an echo server spends per round trip, in counts that a loaded machine does not
# blur: system calls and context switches (from `perf stat`), beside server CPU per round
# trip (from /proc schedstat, as ../shared/bench/echo_cpu.sh measures it).
#
# Placement is the same for every shape and stated on the first line: by default, as in
# echo_cpu.sh, every server thread runs on cpu0 and the load generator on cpu1, so a
# 2-loop (or 2-runtime) server time-shares one CPU; `SPREAD=1` lets the server's threads
# use both CPUs (the load generator stays on cpu1, so the server's second thread competes
# with it). perf counts from the server's first accepted connection until the load
# generator exits, the window the CPU figure covers too: the load generator's own window
# (its rt/s) starts only once every connection is up, which takes seconds of SYN retries
# when a listener's backlog overflows (tokio's `TcpListener::bind` listens with 128), so a
# fixed-length count would miss most of the run. The connections' set-up (accept, epoll_ctl,
# setsockopt: a few calls per connection) is thus in the counts, a few hundredths per
# round trip at 1,000 connections.
#
# One run is one sample: how many epoll_waits (and blocking ones) a round trip costs
# depends on whether the server or the load generator is the faster side, which the
# machine's load shifts from run to run. bench/echo_batches.sh splits the count into
# per-request calls and waits, over several interleaved runs.
#
# usage: bench/echo_counts.sh CONNS SIZE SECONDS name='server command' ...
# example: bench/echo_counts.sh 1000 4096 3 s2='target/release/examples/tcp_echo --loops 2' \
#            rp='target/release/loops_echo tokio-rp 2'
set -u
here=$(cd "$(dirname "$0")" && pwd)
shared=${SIMUL_SHARED:-$here/../../shared}/bench
tmp=${TMPDIR:-/tmp}
[ -x "$tmp/loadgen" ] || gcc -O2 -o "$tmp/loadgen" "$shared/loadgen.c"
conns=$1; size=$2; secs=$3; shift 3
server_cpus=0
[ "${SPREAD:-0}" = 1 ] && server_cpus=0,1
echo "server on cpu $server_cpus, load generator on cpu1; $conns connections, $size B, ${secs}s"
port=19500
for s in "$@"; do
  name=${s%%=*}; cmd=${s#*=}; port=$((port + 1))
  set -- $cmd; prog=$1; shift
  taskset -c "$server_cpus" "$prog" "$port" "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  threads=$(ls /proc/$pid/task | wc -l)
  c0=$(cat /proc/$pid/task/*/schedstat 2>/dev/null | awk '{s+=$1} END {print s+0}')
  perf stat -x, -e context-switches,raw_syscalls:sys_enter -p "$pid" -o "$tmp/echo_counts.$$" \
    >/dev/null 2>&1 &
  perf_pid=$!
  out=$(taskset -c 1 "$tmp/loadgen" 127.0.0.1 "$port" "$conns" "$size" "$secs" 2>&1 | tail -1)
  c1=$(cat /proc/$pid/task/*/schedstat 2>/dev/null | awk '{s+=$1} END {print s+0}')
  kill -INT "$perf_pid"; wait "$perf_pid"
  rts=$(echo "$out" | awk '{print $2}')
  awk -F, -v r="$rts" -v t="$secs" -v n="$name" -v a="$c0" -v b="$c1" -v th="$threads" '
    { v[$3] = $1 }
    END {
      if (r <= 0) { printf "%-14s no round trips\n", n; exit }
      printf "%-14s threads %2d  rt/s %7d  server-cpu-us/rt %6.2f  syscalls/rt %5.2f  ctx-switches/rt %6.3f\n",
        n, th, r, (b - a) / 1000 / (r * t), v["raw_syscalls:sys_enter"] / (r * t), v["context-switches"] / (r * t)
    }' "$tmp/echo_counts.$$"
  rm -f "$tmp/echo_counts.$$"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
done
