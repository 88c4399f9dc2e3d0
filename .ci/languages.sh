#!/usr/bin/env bash
# The other languages the service's tests drive it from: Python (venv; the packages come
# from PyPI at test time), Node and PHP (README's webhook receivers, examples/serve/), and a
# real browser for the dashboard.
# Installs Debian's packages for whichever is missing. Source it or run it.
set -euo pipefail

missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v node >/dev/null || missing+=(nodejs)
command -v php >/dev/null || missing+=(php-cli)
# The dashboard's browser tests drive Debian's chromium (Playwright for Python, from PyPI).
command -v chromium >/dev/null || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 --version
node --version
php --version | head -1
chromium --version
