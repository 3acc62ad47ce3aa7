# Sourced by .ci/run: start a throwaway PostgreSQL server on loopback for the database-join tests.
# Best effort: if no server can be installed or started, those tests skip (they say why).
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pg_bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || true
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
fi
if [ -n "$pg_bin" ]; then
  pg_data=$(mktemp -d)
  pg_port=54329
  as_db_user() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "cd / && $*"; else sh -c "$*"; fi; }
  [ "$(id -u)" = 0 ] && chown postgres "$pg_data"
  if as_db_user "'$pg_bin/initdb' -D '$pg_data' -A trust -U postgres >/dev/null" \
     && as_db_user "'$pg_bin/pg_ctl' -D '$pg_data' -l '$pg_data/server.log' -w -o \"-p $pg_port -k $pg_data -c listen_addresses=127.0.0.1\" start >/dev/null"; then
    export IDEX_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/postgres"
    trap "as_db_user \"'$pg_bin/pg_ctl' -D '$pg_data' -m fast stop >/dev/null\" || true" EXIT
    echo "PostgreSQL test server on 127.0.0.1:$pg_port"
  else
    echo "PostgreSQL could not be started; the PostgreSQL test will skip"
  fi
fi
