#!/usr/bin/env bash
# HTTP and TLS benchmarks, one run, simul vs tokio current_thread as ratios.
#
#   bash bench/http.sh [SECONDS] [LOOPS...]   # default 5 s per row, LOOPS "1 2"
#
# For each LOOPS count N: simul with N loops (`simul::Loops`, one `serve` per loop on its
# own SO_REUSEPORT listener) against N tokio current_thread runtimes on N threads, the
# same way. Both servers are pinned the same way (taskset -c 0 for one loop, 0..N-1 for
# N) and measured alternately, row by row, in the same run.
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
# (higher is better too). Needs wrk and h2load (apt-get install wrk nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
shift || true
LOOPS_LIST=${*:-1 2}
ulimit -n 65536 2>/dev/null || true
for b in wrk h2load; do command -v $b >/dev/null || { echo "bench/http.sh: $b is not installed"; exit 1; }; done
cargo build --release -q -p simul-bench --bin http_simul --bin http_tokio --bin tls_bench
BIN=target/release
TCK=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }

start() { # name port loops [tls] -> pid
    taskset -c "0-$(($3 - 1))" "$BIN/$1" "$2" "$3" ${4:-} >/dev/null &
    local pid=$!
    local scheme=http; [ -n "${4:-}" ] && scheme=https
    for _ in $(seq 100); do curl -sk -o /dev/null "$scheme://127.0.0.1:$2/" && break; sleep 0.05; done
    echo $pid
}

run_load() { # tool conns path port -> "reqs_per_s"
    case $1 in
        wrk) wrk -t2 -c"$2" -d"${SECS}s" "http://127.0.0.1:$4$3" | awk '/Requests\/sec/ {print $2}' ;;
        h2load) h2load -c"$2" -m10 -t2 -D"$SECS" "http://127.0.0.1:$4$3" 2>/dev/null \
                    | awk '/^finished in/ {gsub(",", "", $4); print $4}' ;;
        h2load-tls) h2load -c"$2" -m10 -t2 -D"$SECS" "https://127.0.0.1:$4$3" 2>/dev/null \
                    | awk '/^finished in/ {gsub(",", "", $4); print $4}' ;;
    esac
}

for N in $LOOPS_LIST; do
SIMUL=$(start http_simul 18081 "$N")
TOKIO=$(start http_tokio 18082 "$N")
SIMUL_TLS=$(start http_simul 18083 "$N" tls)
TOKIO_TLS=$(start http_tokio 18084 "$N" tls)
trap 'kill $SIMUL $TOKIO $SIMUL_TLS $TOKIO_TLS 2>/dev/null || true' EXIT
echo "== $N loop(s) vs $N tokio current_thread runtime(s), servers pinned to CPUs 0-$((N - 1))"
printf '%-22s %12s %12s %7s %12s %12s %7s\n' row "simul req/s" "tokio req/s" ratio "simul us/req" "tokio us/req" ratio
for path in / /json; do
    for load in "wrk 100" "wrk 1000" "h2load 100" "h2load-tls 100"; do
        set -- $load
        declare -A rps cpu
        for side in simul tokio; do
            if [ $side = simul ]; then pid=$SIMUL; port=18081; else pid=$TOKIO; port=18082; fi
            if [ "$1" = h2load-tls ]; then
                if [ $side = simul ]; then pid=$SIMUL_TLS; port=18083; else pid=$TOKIO_TLS; port=18084; fi
            fi
            c0=$(cpu_ticks $pid)
            r=$(run_load "$1" "$2" "$path" "$port")
            c1=$(cpu_ticks $pid)
            rps[$side]=$r
            cpu[$side]=$(awk -v c=$((c1 - c0)) -v t="$TCK" -v r="$r" -v s="$SECS" 'BEGIN { printf "%.2f", (c / t) * 1e6 / (r * s) }')
        done
        printf '%-22s %12.0f %12.0f %7.2f %12s %12s %7.2f\n' "$1 -c$2 $path" "${rps[simul]}" "${rps[tokio]}" \
            "$(awk -v a="${rps[simul]}" -v b="${rps[tokio]}" 'BEGIN { print a / b }')" \
            "${cpu[simul]}" "${cpu[tokio]}" \
            "$(awk -v a="${cpu[simul]}" -v b="${cpu[tokio]}" 'BEGIN { print b / a }')"
    done
done
kill $SIMUL $TOKIO $SIMUL_TLS $TOKIO_TLS 2>/dev/null || true
wait $SIMUL $TOKIO $SIMUL_TLS $TOKIO_TLS 2>/dev/null || true
done
echo
"$BIN/tls_bench"
