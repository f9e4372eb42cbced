#!/usr/bin/env bash
# Prepares a fresh Debian machine to build FerrisStreams: a Rust toolchain (1.95 or newer)
# with rustfmt and clippy. Safe to run again; it only installs what is missing.
set -euo pipefail

need_rust=1
if command -v cargo >/dev/null 2>&1; then
    version=$(rustc --version | awk '{print $2}')
    if [ "$(printf '%s\n1.95.0\n' "$version" | sort -V | head -n1)" = "1.95.0" ]; then
        need_rust=0
    fi
fi
if [ "$need_rust" = 1 ]; then
    echo "setup: installing the Rust toolchain with rustup" >&2
    if ! command -v curl >/dev/null 2>&1; then
        apt-get update -q && apt-get install -y -q curl ca-certificates build-essential
    fi
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
        --component rustfmt,clippy
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done
if ! command -v cc >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q build-essential
fi
# Topology detection links the system hwloc 2.x (hwlocality-sys finds it with pkg-config; it
# needs libudev's headers too); `hwloc` brings lstopo to compare with `ferris topology detect`.
# `valgrind`: `ferris bench check` counts instructions under callgrind (docs/benchmarks.md).
if command -v dpkg >/dev/null 2>&1; then
    missing=()
    for pkg in libhwloc-dev libudev-dev pkg-config hwloc valgrind; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "setup: installing ${missing[*]}" >&2
        apt-get update -q && apt-get install -y -q "${missing[@]}"
    fi
fi
