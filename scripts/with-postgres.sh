#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server, named to the host's tests by
# QRPOS_TEST_POSTGRES, when PostgreSQL's server is installed (.ci/run installs it). Without
# it, the command runs alone and the tests say that PostgreSQL was skipped.
set -euo pipefail
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "with-postgres: no PostgreSQL server installed: the host's PostgreSQL tests are skipped" >&2
  exec "$@"
fi
dir=$(mktemp -d)
# PostgreSQL refuses to run as root: a root shell (CI) runs it as the package's user.
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$dir"
  as_pg=(runuser -u postgres --)
fi
stop() {
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Throwaway: no fsync. Loopback only, its socket in the temp dir.
"${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
export QRPOS_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
"$@"
