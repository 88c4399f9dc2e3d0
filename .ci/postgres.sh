#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1 for the tests and exports
# STK_TEST_POSTGRES_URL. Source it; call `stop_postgres` (the caller's EXIT trap) to stop it.
# Installs Debian's `postgresql` package if the server binaries are missing.
set -euo pipefail

STK_PG_PORT="${STK_PG_PORT:-55432}"

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  echo "installing PostgreSQL (Debian package postgresql)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
fi
PGBIN="$(pg_bin)"

STK_PGDATA="$(mktemp -d /tmp/stk-pg.XXXXXX)"
# initdb refuses to run as root: run the server as the package's `postgres` user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres:postgres "$STK_PGDATA"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop_postgres() {
  if [ -n "${STK_PGDATA:-}" ] && [ -d "$STK_PGDATA" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$STK_PGDATA/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$STK_PGDATA"
  fi
}

as_pg "$PGBIN/initdb" -D "$STK_PGDATA/data" --auth=trust -U stk --encoding=UTF8 >/dev/null
# Started up to three times (a server of an earlier run may still be letting go of the port);
# a failure shows the server's own log.
for try_number in 1 2 3; do
  if as_pg "$PGBIN/pg_ctl" -D "$STK_PGDATA/data" -l "$STK_PGDATA/server.log" -w \
    -o "-p $STK_PG_PORT -k $STK_PGDATA -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" \
    start >/dev/null; then
    break
  fi
  echo "PostgreSQL did not start (try $try_number of 3); its log:" >&2
  tail -20 "$STK_PGDATA/server.log" >&2 || true
  [ "$try_number" = 3 ] && exit 1
  sleep 3
done
"$PGBIN/createdb" -h 127.0.0.1 -p "$STK_PG_PORT" -U stk stk_test
export STK_TEST_POSTGRES_URL="postgres://stk@127.0.0.1:$STK_PG_PORT/stk_test"
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on $STK_TEST_POSTGRES_URL" >&2
