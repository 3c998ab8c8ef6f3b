#!/usr/bin/env bash
# HTTP and TLS benchmarks, one run, simul vs tokio current_thread as ratios.
#
#   bash bench/http.sh [SECONDS] [LOOPS...]   # default 5 s per row, LOOPS "1 2"
#   RUNS=3 bash bench/http.sh 3 1               # each row 3 times: medians, ratio spread
#   ONLY=wrk bash bench/http.sh                 # only the rows whose tool matches
#
# For each LOOPS count N: simul with N loops (`simul::Loops`, one `serve` per loop on its
# own SO_REUSEPORT listener) against N tokio current_thread runtimes on N threads, the
# same way. Both servers are pinned the same way (taskset -c 0 for one loop, 0..N-1 for
# N; with one loop the load tool runs one thread on CPU 1) and measured alternately, row
# by row, in the same run. bench/http_counts.sh gives the load-independent side of the
# same rows: user instructions and system calls per request.
#
# Rows: wrk (HTTP/1.1 keep-alive) at 100 and 1,000 connections, h2load (HTTP/2 h2c,
# 100 connections x 10 streams) and h2load over TLS (HTTP/2 by ALPN, `h2load-tls`; the
# servers run with `tls` and a certificate made at start, rustls' *ring* provider on both
# sides) against `/` (plaintext) and `/json`, on the same hyper
# service over simul (bench/src/bin/http_simul.rs) and over tokio current_thread
# (http_tokio.rs): requests/s and server CPU per request (utime+stime of the server
# process from /proc, in microseconds). Then TLS handshakes/s and bulk TLS throughput,
# simul + futures-rustls vs tokio + tokio-rustls (tls_bench.rs). Ratios are simul/tokio
# for requests/s and throughput (higher is better) and tokio/simul for CPU per request
# (higher is better too). With RUNS=n (default 1) each row is measured n times, the two
# sides alternating, and the table shows the medians and, after each ratio, the spread of
# the n per-run ratios (min-max): on a loaded machine one run's ratio is noise. The load
# average is printed with each table. Needs wrk and h2load (apt-get install wrk
# nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
shift || true
LOOPS_LIST=${*:-1 2}
RUNS=${RUNS:-1}
ONLY=${ONLY:-}
ulimit -n 65536 2>/dev/null || true
for b in wrk h2load; do command -v $b >/dev/null || { echo "bench/http.sh: $b is not installed"; exit 1; }; done
BIN=${BIN:-target/release} # BIN=dir: other builds of the servers (say, a baseline)
if [ "$BIN" = target/release ]; then
    cargo build --release -q -p simul-bench --bin http_simul --bin http_tokio --bin tls_bench
fi
TCK=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }

# Waits (at most 5 s) until the processes have exited: a server of the previous loop count
# must have closed its listener before the next one binds. A zombie counts as exited.
wait_gone() {
    for pid in "$@"; do
        for _ in $(seq 100); do
            [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null || echo Z)" = Z ] && break
            sleep 0.05
        done
    done
}

# median of the arguments; spread "min-max"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f-%.2f", lo, hi}'; }

start() { # name port loops [tls] -> pid
    taskset -c "0-$(($3 - 1))" "$BIN/$1" "$2" "$3" ${4:-} >/dev/null &
    local pid=$!
    local scheme=http; [ -n "${4:-}" ] && scheme=https
    for _ in $(seq 100); do curl -sk -o /dev/null "$scheme://127.0.0.1:$2/" && break; sleep 0.05; done
    echo $pid
}

# With one loop the server has CPU 0 and the load tool, one thread, has CPU 1 to itself:
# when the tool's threads shared CPU 0 with the server, the server's CPU per request swung
# by a fifth from run to run with the scheduler's choices. With N loops the servers use
# CPUs 0..N-1 and the tool runs two threads wherever the kernel puts them.
run_load() { # tool conns path port -> "reqs_per_s"
    local pin=() t=2
    if [ "$N" = 1 ]; then pin=(taskset -c 1); t=1; fi
    case $1 in
        wrk) "${pin[@]}" wrk -t$t -c"$2" -d"${SECS}s" "http://127.0.0.1:$4$3" | awk '/Requests\/sec/ {print $2}' ;;
        h2load) "${pin[@]}" h2load -c"$2" -m10 -t$t -D"$SECS" "http://127.0.0.1:$4$3" 2>/dev/null \
                    | awk '/^finished in/ {gsub(",", "", $4); print $4}' ;;
        h2load-tls) "${pin[@]}" h2load -c"$2" -m10 -t$t -D"$SECS" "https://127.0.0.1:$4$3" 2>/dev/null \
                    | awk '/^finished in/ {gsub(",", "", $4); print $4}' ;;
    esac
}

for N in $LOOPS_LIST; do
# Ports differ per loop count, so a server still closing cannot collide with the next.
P=$((18080 + 10 * N))
SIMUL=$(start http_simul $((P + 1)) "$N")
TOKIO=$(start http_tokio $((P + 2)) "$N")
SIMUL_TLS=$(start http_simul $((P + 3)) "$N" tls)
TOKIO_TLS=$(start http_tokio $((P + 4)) "$N" tls)
trap 'kill $SIMUL $TOKIO $SIMUL_TLS $TOKIO_TLS 2>/dev/null || true' EXIT
echo "== $N loop(s) vs $N tokio current_thread runtime(s), servers pinned to CPUs 0-$((N - 1)), $RUNS run(s) per row, load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %12s %12s %7s %10s %12s %12s %7s %10s\n' row "simul req/s" "tokio req/s" ratio spread "simul us/req" "tokio us/req" ratio spread
for path in / /json; do
    for load in "wrk 100" "wrk 1000" "h2load 100" "h2load-tls 100"; do
        set -- $load
        case "$1" in *$ONLY*) ;; *) continue ;; esac
        declare -A rps cpu
        rps=([simul]="" [tokio]="") cpu=([simul]="" [tokio]="")
        rr=() cr=()
        for _ in $(seq "$RUNS"); do
            declare -A r1 c1
            for side in simul tokio; do
                if [ $side = simul ]; then pid=$SIMUL; port=$((P + 1)); else pid=$TOKIO; port=$((P + 2)); fi
                if [ "$1" = h2load-tls ]; then
                    if [ $side = simul ]; then pid=$SIMUL_TLS; port=$((P + 3)); else pid=$TOKIO_TLS; port=$((P + 4)); fi
                fi
                t0=$(cpu_ticks $pid)
                r=$(run_load "$1" "$2" "$path" "$port")
                t1=$(cpu_ticks $pid)
                r1[$side]=$r
                c1[$side]=$(awk -v c=$((t1 - t0)) -v t="$TCK" -v r="$r" -v s="$SECS" 'BEGIN { printf "%.2f", (c / t) * 1e6 / (r * s) }')
                rps[$side]+=" $r" cpu[$side]+=" ${c1[$side]}"
            done
            rr+=("$(awk -v a="${r1[simul]}" -v b="${r1[tokio]}" 'BEGIN { print a / b }')")
            cr+=("$(awk -v a="${c1[simul]}" -v b="${c1[tokio]}" 'BEGIN { print b / a }')")
        done
        printf '%-22s %12.0f %12.0f %7.2f %10s %12.2f %12.2f %7.2f %10s\n' "$1 -c$2 $path" \
            "$(median ${rps[simul]})" "$(median ${rps[tokio]})" "$(median "${rr[@]}")" "$(spread "${rr[@]}")" \
            "$(median ${cpu[simul]})" "$(median ${cpu[tokio]})" "$(median "${cr[@]}")" "$(spread "${cr[@]}")"
    done
done
kill $SIMUL $TOKIO $SIMUL_TLS $TOKIO_TLS 2>/dev/null || true
wait_gone $SIMUL $TOKIO $SIMUL_TLS $TOKIO_TLS
done
[ -n "$ONLY" ] && exit 0
echo
"$BIN/tls_bench"
