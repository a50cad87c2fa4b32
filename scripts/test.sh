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
# The RSU's interoperability and metrics tests: an independent QUIC stack (aioquic) as subscriber and
# the Prometheus text-format parser (prometheus_client).  Checked separately so that an older venv
# holding only asn1tools gets them too.
if ! "$VENV/bin/python" -c "import aioquic, prometheus_client" 2>/dev/null; then
    echo "== installing aioquic and prometheus_client into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "aioquic==1.7.2" "prometheus_client==0.26.0"
fi
export ZHILU_PYTHON="$PWD/$VENV/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== all tests passed"
