#!/usr/bin/env bash
# The whole test suite: the Rust workspace (features tls and hyper on, as in CI), then
# the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --features simul/tls,simul/hyper
scripts/test-python.sh
