#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster:
#
#   scripts/with-postgres.sh cargo test -p schoolwatch-tests --test several_collectors
#
# initdb into a temporary directory (as the unprivileged `postgres` user:
# initdb refuses root), start it listening on 127.0.0.1 only, on a free
# port, with its socket in that directory; a role `schoolwatch` with
# CREATEDB, trust authentication on loopback (nothing else can reach it).
# The command runs with
#   SCHOOLWATCH_TEST_POSTGRES=postgresql://schoolwatch@127.0.0.1:PORT/postgres
# and SCHOOLWATCH_TEST_POSTGRES_SOCKET=<its Unix socket directory>
# (tests/src/postgres.rs makes a fresh database per collector from them), and
# the cluster is stopped and its directory deleted when this script exits,
# on success, failure or Ctrl-C. Its exit status is the command's.
#
# Needs the Debian package `postgresql` (scripts/test.sh installs it) and
# root, or the `postgres` user itself, to switch to that user.
set -euo pipefail

if (($# == 0)); then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

pg_bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
if [[ -z $pg_bin || ! -x $pg_bin/initdb ]]; then
  echo "$0: no PostgreSQL server under /usr/lib/postgresql/*/bin: install it with \`apt-get install postgresql\` (scripts/test.sh does)" >&2
  exit 1
fi
if ! id postgres >/dev/null 2>&1; then
  echo "$0: no \`postgres\` user to run the cluster as (initdb refuses root): reinstall the Debian package postgresql-common" >&2
  exit 1
fi

# Runs a server tool as the postgres user (we are root in CI).
as_postgres() {
  if [[ $(id -un) == postgres ]]; then
    "$@"
  else
    runuser -u postgres -- "$@"
  fi
}

pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/schoolwatch-pg.XXXXXX")
chmod 0755 "$pg_dir"
mkdir "$pg_dir/sock"
chown postgres: "$pg_dir" "$pg_dir/sock"
pg_started=

stop_cluster() {
  if [[ -f $pg_dir/data/postmaster.pid ]]; then
    # pg_ctl finds the server by the PID in its postmaster.pid (also one
    # that was still starting when pg_ctl start gave up waiting).
    as_postgres "$pg_bin/pg_ctl" stop -D "$pg_dir/data" -m immediate -s >/dev/null 2>&1 || true
  fi
  rm -rf "$pg_dir"
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust \
  --encoding=UTF8 --no-locale --no-sync >"$pg_dir/initdb.log" 2>&1 || {
  cat "$pg_dir/initdb.log" >&2
  echo "$0: initdb failed (log above)" >&2
  exit 1
}
# Loopback only, trust (initdb's --auth=trust already wrote these lines;
# written out so the policy is in one place).
cat >"$pg_dir/data/pg_hba.conf" <<'EOF'
local all all              trust
host  all all 127.0.0.1/32 trust
EOF

# A free port: pick one that nothing listens on, and try another if the
# server still loses the race for it.
for _ in 1 2 3 4 5; do
  pg_port=$((20000 + RANDOM % 30000))
  ss -Htln "sport = :$pg_port" 2>/dev/null | grep -q . && continue
  if as_postgres "$pg_bin/pg_ctl" start -D "$pg_dir/data" -w -t 60 -s -l "$pg_dir/server.log" \
    -o "-p $pg_port -k $pg_dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    >/dev/null 2>&1; then
    pg_started=1
    break
  fi
done
if [[ -z $pg_started ]]; then
  cat "$pg_dir/server.log" >&2
  echo "$0: the PostgreSQL server did not start (log above)" >&2
  exit 1
fi

as_postgres "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$pg_dir/sock" -p "$pg_port" -U postgres -d postgres \
  -c "CREATE ROLE schoolwatch LOGIN CREATEDB"

export SCHOOLWATCH_TEST_POSTGRES="postgresql://schoolwatch@127.0.0.1:$pg_port/postgres"
# The same server by its Unix socket, for collectors a test runs inside a
# network namespace (whose 127.0.0.1 is not this one's; the socket is a
# file, reachable from any network namespace).
export SCHOOLWATCH_TEST_POSTGRES_SOCKET="$pg_dir/sock"
echo "==> PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port (throwaway cluster in $pg_dir)"
status=0
"$@" || status=$?
if ((status != 0)) && grep -qE 'ERROR|FATAL|PANIC' "$pg_dir/server.log"; then
  echo "==> errors in the PostgreSQL server log (last 30)" >&2
  grep -E 'ERROR|FATAL|PANIC' "$pg_dir/server.log" | tail -n 30 >&2
fi
exit "$status"
