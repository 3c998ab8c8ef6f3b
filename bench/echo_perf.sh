#!/usr/bin/env bash
# Where an echo server's CPU goes per round trip, kernel included: perf's software
# cpu-clock sampling (no hardware counters needed), one sample per 250 us of the server's
# CPU, with call graphs. Placement as in echo_counts.sh: every server thread on cpu0, the
# load generator on cpu1. Per shape, the median over ROUNDS interleaved runs of, in ns per
# round trip:
#   cpu        server CPU (from /proc schedstat, as ../shared/bench/echo_cpu.sh);
#   sampled    all samples: below cpu by sampling error and by perf's own work at each
#              switch of a sampled thread (in cpu, never in a sample), so the gap grows
#              with context switches (1-3 us per round trip where the server blocks once
#              per round trip, as at 4 KiB);
#   user       samples outside the kernel (the runtime and the program);
#   fd-refs    fdget, fput, fdget_pos: looking up the descriptor of each read, write and
#              epoll_wait. In a process with one thread that takes no reference on the
#              file; with two threads sharing the file table it takes and drops one per
#              call (an atomic pair), whichever runtime the threads run;
#   switch     finish_task_switch: switching between threads on the CPU (where the
#              samples of a switch land, interrupts being off during it);
#   wake-peer  sock_def_readable and below: a reply's send telling the load generator's
#              epoll (its lock and wait queue, on the other CPU) that data came;
#   epoll      do_epoll_wait and below;
#   copy       the kernel's copies between the socket and the server's buffers
#              (rep_movs_alternative and the other user-copy routines): cheap into and
#              out of a buffer still in the cache, dear into one per connection that
#              1,000 connections keep pushing out of it.
# A command starting with `+thread ` runs with one extra thread that only sleeps
# (bench/idle_thread.c, preloaded): a one-thread server as a two-thread process, to tell
# what a second thread costs without time-sharing the CPU from what time-sharing costs.
# A shorter sampling period costs the server so much that it changes the regime (at 20 us
# the round trips per second fell sevenfold). CPU figures of one run vary by 10-30% on a
# shared machine: compare shapes run by run, or by the medians.
#
# usage: bench/echo_perf.sh CONNS SIZE SECONDS ROUNDS name='server command' ...
# example: nice -n -20 bench/echo_perf.sh 100 64 3 5 floor=/tmp/limit_epoll \
#            s1=target/release/examples/tcp_echo s1t='+thread target/release/examples/tcp_echo' \
#            s2='target/release/examples/tcp_echo --loops 2' rp='target/release/loops_echo tokio-rp 2'
set -u
here=$(cd "$(dirname "$0")" && pwd)
shared=${SIMUL_SHARED:-$here/../../shared}/bench
tmp=${TMPDIR:-/tmp}
[ -x "$tmp/loadgen" ] || gcc -O2 -o "$tmp/loadgen" "$shared/loadgen.c"
[ -x "$tmp/limit_epoll" ] || gcc -O2 -o "$tmp/limit_epoll" "$shared/limit_epoll.c"
[ -x "$tmp/floor_threads" ] || gcc -O2 -o "$tmp/floor_threads" "$here/floor_threads.c" -lpthread
[ -f "$tmp/idle_thread.so" ] || gcc -O2 -shared -fPIC -o "$tmp/idle_thread.so" "$here/idle_thread.c" -lpthread
conns=$1; size=$2; secs=$3; rounds=$4; shift 4
shapes=("$@"); n=${#shapes[@]}
dir=$(mktemp -d "$tmp/echo_perf.XXXXXX")
echo "server on cpu 0, load generator on cpu1; $conns connections, $size B, ${secs}s, $rounds rounds; ns per round trip"
port=19650
for r in $(seq 0 $((rounds - 1))); do
  for k in $(seq 0 $((n - 1))); do
    s=${shapes[$(((k + r) % n))]}
    name=${s%%=*}; cmd=${s#*=}; port=$((port + 1)); preload=
    case $cmd in "+thread "*) cmd=${cmd#+thread }; preload=$tmp/idle_thread.so ;; esac
    set -- $cmd; prog=$1; shift
    LD_PRELOAD=$preload taskset -c 0 "$prog" "$port" "$@" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    c0=$(cat /proc/$pid/task/*/schedstat 2>/dev/null | awk '{s+=$1} END {print s+0}')
    perf record -q -e cpu-clock -c 250000 -g -p "$pid" -o "$dir/perf.data" >/dev/null 2>&1 &
    perf_pid=$!
    out=$(taskset -c 1 "$tmp/loadgen" 127.0.0.1 "$port" "$conns" "$size" "$secs" 2>&1 | tail -1)
    c1=$(cat /proc/$pid/task/*/schedstat 2>/dev/null | awk '{s+=$1} END {print s+0}')
    kill -INT "$perf_pid"; wait "$perf_pid"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    rts=$(echo "$out" | awk '{print $2}')
    perf report -i "$dir/perf.data" --children --sort sym -q --stdio -g none 2>/dev/null >"$dir/children"
    perf report -i "$dir/perf.data" --no-children --sort dso,sym -q --stdio -g none -n 2>/dev/null |
      awk -v n="$name" -v rt="$rts" -v t="$secs" -v a="$c0" -v b="$c1" -v ch="$dir/children" '
        BEGIN {
          # inclusive share (first column, in %) of each symbol
          while ((getline l < ch) > 0) {
            split(l, f, " "); p = f[1]; sub(/%/, "", p); s = f[length(f)]
            if (!(s in inc)) inc[s] = p
          }
        }
        $2 ~ /^[0-9]+$/ {
          all += $2
          if ($3 !~ /kernel/) user += $2
          if ($NF == "fdget" || $NF == "fput" || $NF == "fdget_pos") fd += $2
          if ($NF ~ /^finish_task_switch/) sw += $2
          if ($3 ~ /kernel/ && $NF ~ /^(rep_movs_alternative|copy_user_[a-z_]+|_copy_to_iter|_copy_from_iter|copy_page_to_iter|memcpy_orig)$/) cp += $2
        }
        END {
          if (rt <= 0) exit
          k = 250000 / (rt * t)
          printf "%s %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", n, (b - a) / (rt * t), all * k, user * k,
            fd * k, sw * k, inc["sock_def_readable"] * all * k / 100, inc["do_epoll_wait"] * all * k / 100, cp * k
        }' >>"$dir/res"
  done
done
printf '%-10s %9s %9s %9s %9s %9s %9s %9s %9s\n' shape cpu sampled user fd-refs switch wake-peer epoll copy
for s in "${shapes[@]}"; do
  name=${s%%=*}
  printf '%-10s' "$name"
  for col in 2 3 4 5 6 7 8 9; do
    awk -v n="$name" -v c="$col" '$1 == n { print $c }' "$dir/res" | sort -g | awk '
      { a[NR] = $1 }
      END {
        if (NR == 0) { printf " %9s", "-"; exit }
        if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2
        printf " %9.0f", m
      }'
  done
  echo
done
rm -rf "$dir"
