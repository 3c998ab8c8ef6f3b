#!/usr/bin/env bash
# Line-mode variant of ../../../shared/bench/echo_cpu.sh: the same script and load
# generator, except that every message ends with '\n', so readline() servers can be
# measured. Builds the patched load generator in a temporary directory and runs
# echo_cpu.sh with it (same arguments).
# usage: echo_lines.sh CONNS SIZE SECONDS name='server command' ...
# example (from the repository root, after cargo build --release --example stream_echo):
#   bench/py/echo_lines.sh 100 64 3 simul=target/release/examples/stream_echo \
#     asyncio=bench/py/stream_echo.py uvloop='bench/py/stream_echo.py --uvloop'
set -eu
here=$(cd "$(dirname "$0")" && pwd)
shared=${SIMUL_SHARED:-$here/../../../shared}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed '/buf\[i\] = (char)/a\  if (n) buf[n - 1] = '"'"'\\n'"'"';' "$shared/bench/loadgen.c" > "$dir/loadgen.c"
grep -q "buf\[n - 1\] = '\\\\n'" "$dir/loadgen.c" || { echo "echo_lines.sh: could not patch loadgen.c" >&2; exit 1; }
gcc -O2 -o "$dir/loadgen" "$dir/loadgen.c"
gcc -O2 -o "$dir/limit_epoll" "$shared/bench/limit_epoll.c"
TMPDIR=$dir bash "$shared/bench/echo_cpu.sh" "$@"
