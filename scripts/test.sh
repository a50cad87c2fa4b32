#!/usr/bin/env bash
# Zhilu's whole test suite, runnable on a fresh machine (Rust stable + Python 3).
#
# 1. Installs the independent ASN.1 decoder (asn1tools, from PyPI) into
#    target/asn1-venv; the conformance tests decode everything we encode with it.
# 2. Runs formatting and lint checks, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/asn1-venv
if ! "$VENV/bin/python" -c "import asn1tools" 2>/dev/null; then
    echo "== installing asn1tools into $VENV"
    mkdir -p target
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "asn1tools==0.169.0"
fi
export ZHILU_PYTHON="$PWD/$VENV/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== all tests passed"
