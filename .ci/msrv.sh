#!/usr/bin/env bash
# The declared rust-version is what this checks: the workspace's libraries and binaries
# (dev tools excluded) compile with Debian's rustc 1.85 (`rustc-web`, `cargo-web`), installed
# here if missing. Its own target directory, so the main build is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
declared=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
if [ ! -x /usr/bin/rustc ] || ! /usr/bin/rustc --version | grep -q "^rustc $declared"; then
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q rustc-web cargo-web >/dev/null
fi
/usr/bin/rustc --version | grep -q "^rustc $declared" \
  || { echo "Debian's rustc is not $declared: $(/usr/bin/rustc --version)" >&2; exit 1; }
echo "==> cargo check with $(/usr/bin/rustc --version) (rust-version = $declared)"
CARGO_TARGET_DIR=target/msrv RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
  /usr/bin/cargo check --workspace --exclude xtask --exclude stk-bench --all-features --locked
