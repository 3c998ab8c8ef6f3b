#!/usr/bin/env bash
# The whole test suite: the Rust workspace, then the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
scripts/test-python.sh
