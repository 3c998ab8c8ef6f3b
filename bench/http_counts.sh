#!/usr/bin/env bash
# Load-independent counts per HTTP request, simul vs tokio current_thread (one loop each):
# user-space instructions (callgrind) and system calls (perf's raw_syscalls tracepoint)
# per request, on the rows of bench/http.sh (h2load-tls: rustls' ring provider on both
# sides). On a 2-CPU VM the wall-clock CPU per request of http.sh swings with whatever
# else runs; these two counts do not, and together they account for the server's CPU: the
# same kernel work per system call on both sides (the same hyper, the same socket calls),
# plus user space. An h2load-tls window also holds its 100 connections' handshakes (the
# same ring crypto on both sides), which pulls that row's ratio towards 1.
#
#   bash bench/http_counts.sh [SECONDS]        # default 6 s measured per row and side
#   ONLY=wrk bash bench/http_counts.sh         # only the rows whose tool matches
#
# Each server runs on CPU 0, the load tool (one thread) on CPU 1. A warm-up run of the
# same load comes first; the counters cover only the measured run that follows (callgrind
# zeroed and dumped around it with callgrind_control; perf stat attached for it), and the
# request count is the load tool's. A request in flight at either edge of the window
# counts only partly: with 100 or 1,000 connections and tens of thousands of requests per
# window that is below 0.1% (and connection set-up of the measured run, counted on both
# sides alike, is in the figure). Ratios are tokio/simul: above 1, simul does less.
# Needs wrk, h2load, valgrind and perf.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-6}
ONLY=${ONLY:-}
ulimit -n 65536 2>/dev/null || true
for b in wrk h2load valgrind perf callgrind_control; do
    command -v $b >/dev/null || { echo "bench/http_counts.sh: $b is not installed"; exit 1; }
done
cargo build --release -q -p simul-bench --bin http_simul --bin http_tokio
BIN=target/release
tmp=${TMPDIR:-/tmp}/http_counts.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

# load TOOL CONNS PATH PORT SECS -> requests completed
load() {
    case $1 in
        wrk) taskset -c 1 wrk -t1 -c"$2" -d"$5s" "http://127.0.0.1:$4$3" \
                 | awk '/^ *[0-9]+ requests in/ {print $1}' ;;
        h2load) taskset -c 1 h2load -c"$2" -m10 -t1 -D"$5" "http://127.0.0.1:$4$3" 2>/dev/null \
                 | awk '/^requests:/ {print $8}' ;;
        h2load-tls) taskset -c 1 h2load -c"$2" -m10 -t1 -D"$5" "https://127.0.0.1:$4$3" 2>/dev/null \
                 | awk '/^requests:/ {print $8}' ;;
    esac
}

# wait_up PORT TOOL: until the server answers
wait_up() {
    local scheme=http; [ "$2" = h2load-tls ] && scheme=https
    for _ in $(seq 300); do curl -sk -o /dev/null "$scheme://127.0.0.1:$1/" && return; sleep 0.1; done
}
# the server's extra argument for a row: `tls` for h2load-tls
tls_arg() { [ "$1" = h2load-tls ] && echo tls || true; }

# syscalls SIDE TOOL CONNS PATH PORT -> "syscalls_per_request epoll_waits_per_request"
syscalls() {
    taskset -c 0 "$BIN/http_$1" "$5" 1 $(tls_arg "$2") >/dev/null &
    local sp=$!
    wait_up "$5" "$2"
    load "$2" "$3" "$4" "$5" 2 >/dev/null
    perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait \
        -p "$sp" -o "$tmp/perf" &
    local pp=$!
    sleep 0.2
    local r
    r=$(load "$2" "$3" "$4" "$5" "$SECS")
    kill -INT "$pp"; wait "$pp" 2>/dev/null || true
    kill "$sp"; wait "$sp" 2>/dev/null || true
    awk -F, -v r="$r" '$3 == "raw_syscalls:sys_enter" {s = $1} $3 ~ /epoll/ {w += $1}
        END {printf "%.3f %.3f\n", s / r, w / r}' "$tmp/perf"
}

# instructions SIDE TOOL CONNS PATH PORT -> user-space instructions per request
instructions() {
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" "$BIN/http_$1" "$5" 1 \
        $(tls_arg "$2") >/dev/null 2>"$tmp/vg.log" &
    local vp=$!
    wait_up "$5" "$2"
    load "$2" "$3" "$4" "$5" 2 >/dev/null
    callgrind_control -z "$vp" >/dev/null
    local r
    r=$(load "$2" "$3" "$4" "$5" "$SECS")
    callgrind_control -d "$vp" >/dev/null
    kill "$vp"; wait "$vp" 2>/dev/null || true
    awk -v r="$r" '/^summary:/ {printf "%.0f", $2 / r}' "$tmp/cg.$vp.1"
}

echo "== per request, one loop / one current_thread runtime on CPU 0, load tool on CPU 1, ${SECS} s windows"
printf '%-18s %10s %10s %6s  %9s %9s %6s  %12s %12s\n' row "simul Ir" "tokio Ir" ratio \
    "simul sc" "tokio sc" ratio "simul waits" "tokio waits"
port=19700
for path in / /json; do
    for row in "wrk 100" "wrk 1000" "h2load 100" "h2load-tls 100"; do
        set -- $row
        case "$1" in *$ONLY*) ;; *) continue ;; esac
        declare -A ir sc wt
        for side in simul tokio; do
            port=$((port + 1))
            ir[$side]=$(instructions "$side" "$1" "$2" "$path" "$port")
            port=$((port + 1))
            read -r s w < <(syscalls "$side" "$1" "$2" "$path" "$port")
            sc[$side]=$s wt[$side]=$w
        done
        printf '%-18s %10s %10s %6.3f  %9s %9s %6.3f  %12s %12s\n' "$1 -c$2 $path" \
            "${ir[simul]}" "${ir[tokio]}" "$(awk -v a="${ir[simul]}" -v b="${ir[tokio]}" 'BEGIN {print b / a}')" \
            "${sc[simul]}" "${sc[tokio]}" "$(awk -v a="${sc[simul]}" -v b="${sc[tokio]}" 'BEGIN {print b / a}')" \
            "${wt[simul]}" "${wt[tokio]}"
    done
done
