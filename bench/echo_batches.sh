#!/usr/bin/env bash
# Where an echo server's system calls and context switches per round trip come from, over
# several interleaved runs: the counts of bench/echo_counts.sh split into what every echo
# server pays (one read and one write per round trip) and what depends on how the load
# arrives (one epoll_wait per batch of ready connections, and a context switch each time
# the wait blocks).
#
# Per shape, the median over ROUNDS runs (min..max beside it) of
#   sys/rt    all system calls per round trip (as echo_counts.sh counts them);
#   wait/rt   epoll_wait (and epoll_pwait) calls per round trip;
#   rt/wait   round trips served per wait: the batch one wake-up brings;
#   vcs/rt    voluntary context switches per round trip (a wait that blocked);
#   ics/rt    involuntary ones (preemption, mostly by other programs on the CPU).
# A server that needs less CPU per round trip than the load generator does finishes its
# batch before the next request arrives, so its batches are small and it waits (and
# blocks) nearly once per round trip whatever it is written in: compare shapes by
# sys/rt - wait/rt (the per-request calls) and by rt/wait together with rt/s, not by
# sys/rt alone. Each round runs the shapes in a rotated order, so drift in the machine's
# load spreads over all of them. Counts cover the load generator's whole run, as in
# echo_counts.sh (which says why). Placement as in echo_counts.sh (server cpu0, load
# generator cpu1); on a shared machine run it under `nice -n -20` so that other programs
# do not starve the load generator (which changes the regime, see above).
#
# usage: bench/echo_batches.sh CONNS SIZE SECONDS ROUNDS name='server command' ...
# example: nice -n -20 bench/echo_batches.sh 1000 4096 3 5 floor=/tmp/limit_epoll \
#            s2='target/release/examples/tcp_echo --loops 2' rp='target/release/loops_echo tokio-rp 2'
# (`/tmp/limit_epoll` is ../shared/bench/limit_epoll.c, built here if missing.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
shared=${SIMUL_SHARED:-$here/../../shared}/bench
tmp=${TMPDIR:-/tmp}
[ -x "$tmp/loadgen" ] || gcc -O2 -o "$tmp/loadgen" "$shared/loadgen.c"
[ -x "$tmp/limit_epoll" ] || gcc -O2 -o "$tmp/limit_epoll" "$shared/limit_epoll.c"
conns=$1; size=$2; secs=$3; rounds=$4; shift 4
shapes=("$@"); n=${#shapes[@]}
res=$tmp/echo_batches.$$
: >"$res"
echo "server on cpu 0, load generator on cpu1; $conns connections, $size B, ${secs}s, $rounds rounds"
# Voluntary and involuntary context switches of every thread of $1.
ctxt() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt/ {v+=$2} /^nonvoluntary_ctxt/ {i+=$2} END {print v+0, i+0}'; }
port=19600
for r in $(seq 0 $((rounds - 1))); do
  for k in $(seq 0 $((n - 1))); do
    s=${shapes[$(((k + r) % n))]}
    name=${s%%=*}; cmd=${s#*=}; port=$((port + 1))
    set -- $cmd; prog=$1; shift
    taskset -c 0 "$prog" "$port" "$@" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait \
      -p "$pid" -o "$res.perf" >/dev/null 2>&1 &
    perf_pid=$!
    x0=$(ctxt "$pid")
    out=$(taskset -c 1 "$tmp/loadgen" 127.0.0.1 "$port" "$conns" "$size" "$secs" 2>&1 | tail -1)
    x1=$(ctxt "$pid")
    kill -INT "$perf_pid"; wait "$perf_pid"
    rts=$(echo "$out" | awk '{print $2}')
    awk -F, -v r="$rts" -v t="$secs" -v n="$name" -v a="$x0" -v b="$x1" '
      { v[$3] = $1 }
      END {
        if (r <= 0) exit
        split(a, x, " "); split(b, y, " "); rt = r * t
        w = v["syscalls:sys_enter_epoll_wait"] + v["syscalls:sys_enter_epoll_pwait"]
        printf "%s %d %.4f %.4f %.2f %.4f %.4f\n", n, r, v["raw_syscalls:sys_enter"] / rt, w / rt,
          (w > 0 ? rt / w : 0), (y[1] - x[1]) / rt, (y[2] - x[2]) / rt
      }' "$res.perf" >>"$res"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
done
printf '%-8s %22s %22s %22s %22s %22s %22s\n' shape rt/s sys/rt wait/rt rt/wait vcs/rt ics/rt
for s in "${shapes[@]}"; do
  name=${s%%=*}
  printf '%-8s' "$name"
  for col in 2 3 4 5 6 7; do
    awk -v n="$name" -v c="$col" '$1 == n { print $c }' "$res" | sort -g | awk '
      { a[NR] = $1 }
      END {
        if (NR == 0) { printf " %22s", "-"; exit }
        if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2
        f = "%.3f"; if (m >= 1) f = "%.2f"; if (m >= 100) f = "%.0f"
        printf " %22s", sprintf(f " (" f "-" f ")", m, a[1], a[NR])
      }'
  done
  echo
done
rm -f "$res" "$res.perf"
