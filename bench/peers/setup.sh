#!/usr/bin/env bash
# Creates the peers' Python venv and installs requirements.txt into it, if not done already.
#
#   bench/peers/setup.sh            # venv at $STK_BENCH_VENV, default target/bench-venv
#
# STK_BENCH_VENV, when relative, is relative to the repository root. PYTHON picks the
# interpreter (default python3, CPython 3.11 here). Idempotent: a stamp in the venv records the
# sha256 of requirements.txt, and pip runs only when the venv is new or the file changed.
# Prints exactly one line on stdout: the venv's python (absolute path). Progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${STK_BENCH_VENV:-target/bench-venv}"
case "$venv" in
  /*) ;;
  *) venv="$root/$venv" ;;
esac
requirements="$here/requirements.txt"
stamp="$venv/.stk-bench-requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ]; then
  echo "setup.sh: creating venv $venv" >&2
  "${PYTHON:-python3}" -m venv "$venv" >&2
fi
venv="$(cd "$venv" && pwd)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "setup.sh: installing $requirements" >&2
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
