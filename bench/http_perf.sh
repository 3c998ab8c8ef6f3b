#!/usr/bin/env bash
# Where the server's CPU goes per HTTP request, simul vs tokio current_thread (one loop
# each), on bench/http.sh's wrk rows: kernel and user time per request from perf's
# software clock (`perf record -e cpu-clock`, no hardware counters needed), the kernel
# events behind it per request (system calls by kind, packets sent, socket wake-ups,
# TCP timers armed, scheduler switches and wake-ups, skb allocations: in-kernel counts of
# tracepoints by `perf stat`, which lose nothing), and the kernel and user symbols whose
# time per request differs most between the two servers.
#
#   bash bench/http_perf.sh [SECONDS]          # default 3 s windows, 3 runs per side
#   RUNS=5 CONNS=1000 bash bench/http_perf.sh  # more runs, another connection count
#   ONLY=/json bash bench/http_perf.sh         # one path (`/` or `/json`)
#   BIN=dir bash bench/http_perf.sh            # other builds of the servers
#
# Placement as in http.sh: the server on CPU 0 (taskset), `wrk -t1` on CPU 1. Each run
# starts a fresh server, warms it with 1 s of the same load, then measures one window.
# Sides alternate run by run. Time per request is wall-clock work: other load on the
# machine moves it (cache pollution, a neighbour on the same core), so read the per-run
# ratios' spread before believing a difference; the event counts barely move with load
# (they depend on how requests batch, not on speed). bench/http_counts.sh gives the
# deterministic user-space side (instructions per request). Needs wrk and perf.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-3}
RUNS=${RUNS:-3}
CONNS=${CONNS:-100}
ONLY=${ONLY:-}
ulimit -n 65536 2>/dev/null || true
for b in wrk perf; do command -v $b >/dev/null || { echo "bench/http_perf.sh: $b is not installed"; exit 1; }; done
BIN=${BIN:-target/release}
if [ "$BIN" = target/release ]; then
    cargo build --release -q -p simul-bench --bin http_simul --bin http_tokio
fi
tmp=${TMPDIR:-/tmp}/http_perf.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.05; done; }
load() { taskset -c 1 wrk -t1 -c"$CONNS" -d"$2s" "http://127.0.0.1:$1$3" | awk '/^ *[0-9]+ requests in/ {print $1}'; }

# profile SIDE PATH PORT OUT -> requests; OUT holds "ns_per_request<TAB>dso<TAB>symbol" lines
profile() {
    taskset -c 0 "$BIN/http_$1" "$3" 1 >/dev/null &
    local sp=$! r
    wait_up "$3"
    load "$3" 1 "$2" >/dev/null
    perf record -q -F 4000 -e cpu-clock -p "$sp" -o "$tmp/perf.data" >/dev/null 2>&1 &
    local pp=$!
    sleep 0.2
    r=$(load "$3" "$SECS" "$2")
    kill -INT "$pp"; wait "$pp" 2>/dev/null || true
    kill "$sp"; wait "$sp" 2>/dev/null || true
    # The event count is in nanoseconds (cpu-clock); the two binaries' names become one.
    perf report -i "$tmp/perf.data" --no-children --sort dso,sym -F period,dso,sym --stdio 2>/dev/null |
        awk -v r="$r" '/^#/ || NF < 3 {next} {p = $1; d = $2; $1 = ""; $2 = ""; sub(/^ +/, "");
            if (d ~ /^http_(simul|tokio)$/) d = "server"; printf "%.2f\t%s\t%s\n", p / r, d, $0}' >"$4"
    echo "$r"
}

# events SIDE PATH PORT -> "name per_request" lines (tracepoints counted in the server's context)
events() {
    taskset -c 0 "$BIN/http_$1" "$3" 1 >/dev/null &
    local sp=$! r a
    wait_up "$3"
    load "$3" 1 "$2" >/dev/null
    local ev=(raw_syscalls:sys_enter)
    for s in recvfrom read sendto write writev epoll_wait epoll_ctl accept4; do ev+=("syscalls:sys_enter_$s"); done
    ev+=(net:net_dev_xmit sock:sk_data_ready timer:timer_start timer:hrtimer_start sched:sched_switch
        sched:sched_waking ipi:ipi_send_cpu kmem:kmem_cache_alloc kmem:kmalloc skb:consume_skb)
    perf stat -x, $(printf -- '-e %s ' "${ev[@]}") -p "$sp" -o "$tmp/stat" &
    local pp=$!
    sleep 0.2
    r=$(load "$3" "$SECS" "$2")
    kill -INT "$pp"; wait "$pp" 2>/dev/null || true
    kill "$sp"; wait "$sp" 2>/dev/null || true
    awk -F, -v r="$r" '$3 ~ /:/ {printf "%s %.4f\n", $3, $1 / r}' "$tmp/stat"
}

echo "== per request, one loop / one current_thread runtime on CPU 0, wrk -t1 -c$CONNS on CPU 1, ${SECS} s windows, $RUNS run(s), load: $(cut -d' ' -f1-3 /proc/loadavg)"
port=19400
for path in / /json; do
    case "$path" in *$ONLY*) ;; *) continue ;; esac
    [ -n "$ONLY" ] && [ "$ONLY" != "$path" ] && continue
    echo
    echo "-- wrk -c$CONNS $path: ns of server CPU per request (perf cpu-clock samples)"
    printf '%-5s %12s %12s %12s %12s %12s %12s %7s\n' run "simul total" "tokio total" "simul kernel" "tokio kernel" \
        "simul user" "tokio user" ratio
    ratios=()
    for run in $(seq "$RUNS"); do
        declare -A tot ker
        for side in simul tokio; do
            port=$((port + 1))
            profile $side "$path" $port "$tmp/$side.$run" >/dev/null
            tot[$side]=$(awk -F'\t' '{s += $1} END {printf "%.0f", s}' "$tmp/$side.$run")
            ker[$side]=$(awk -F'\t' '$2 ~ /kernel/ {s += $1} END {printf "%.0f", s}' "$tmp/$side.$run")
        done
        ratio=$(awk -v a="${tot[simul]}" -v b="${tot[tokio]}" 'BEGIN {printf "%.3f", b / a}')
        ratios+=("$ratio")
        printf '%-5s %12s %12s %12s %12s %12s %12s %7s\n' "$run" "${tot[simul]}" "${tot[tokio]}" "${ker[simul]}" \
            "${ker[tokio]}" $((tot[simul] - ker[simul])) $((tot[tokio] - ker[tokio])) "$ratio"
    done
    echo "ratio is tokio/simul total (above 1: simul spends less); spread $(printf '%s\n' "${ratios[@]}" | sort -g | sed -n '1p;$p' | paste -sd-)"
    echo
    echo "-- symbols whose ns per request differ most (mean over the runs; simul tokio simul-tokio)"
    for side in simul tokio; do cat "$tmp/$side".* | awk -F'\t' -v n="$RUNS" '{s[$2 "\t" $3] += $1}
        END {for (k in s) printf "%.2f\t%s\n", s[k] / n, k}' >"$tmp/$side.mean"; done
    awk -F'\t' 'NR == FNR {a[$2 "\t" $3] = $1; next} {b[$2 "\t" $3] = $1}
        END {for (k in a) if (!(k in b)) b[k] = 0; for (k in b) {d = a[k] - b[k]; printf "%8.1f %8.1f %+8.1f  %s\n", a[k], b[k], d, k}}' \
        "$tmp/simul.mean" "$tmp/tokio.mean" | sort -k3 -g >"$tmp/diff"
    (tail -12 "$tmp/diff" | sort -k3 -g -r; echo "   ..."; head -12 "$tmp/diff") | tr '\t' ' '
    echo
    echo "-- kernel events per request in the server's context (perf stat)"
    port=$((port + 1)); events simul "$path" $port >"$tmp/ev.simul"
    port=$((port + 1)); events tokio "$path" $port >"$tmp/ev.tokio"
    printf '%-34s %9s %9s\n' event simul tokio
    paste -d' ' "$tmp/ev.simul" "$tmp/ev.tokio" | awk '{printf "%-34s %9.4f %9.4f\n", $1, $2, $4}'
done
