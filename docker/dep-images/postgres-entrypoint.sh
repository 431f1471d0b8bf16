#!/bin/sh
# The start command of the postgres image `cargo xtask dep-images` builds
# from Debian's packages, doing what the official image's entrypoint does
# for the variables and files compose files give it: on an empty PGDATA,
# initdb as user postgres (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# POSTGRES_HOST_AUTH_METHOD), then /docker-entrypoint-initdb.d/*.sql and
# *.sh, then the server on every address. `docker run IMAGE psql …` runs
# that command instead.
set -eu

bin=/usr/lib/postgresql/15/bin
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "${1:-}" != postgres ]; then
	exec "$@"
fi
shift

if [ "$(id -u)" = 0 ]; then
	# A volume mounted over PGDATA belongs to root: give it to postgres,
	# then go on as postgres (setpriv replaces this shell, no process stays).
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -z "${POSTGRES_HOST_AUTH_METHOD:-}" ]; then
	if [ -n "${POSTGRES_PASSWORD:-}" ]; then
		POSTGRES_HOST_AUTH_METHOD=scram-sha-256
	else
		echo "postgres: POSTGRES_PASSWORD is empty: clients connect without a password (POSTGRES_HOST_AUTH_METHOD=trust)" >&2
		POSTGRES_HOST_AUTH_METHOD=trust
	fi
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	"$bin/initdb" --username="$POSTGRES_USER" --pwfile="$pwfile" \
		--encoding=UTF8 --locale=C.UTF-8 --auth-local=trust >/dev/null
	rm -f "$pwfile"
	printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
	# The JIT's libraries are not in the image.
	printf "listen_addresses = '*'\njit = off\n" >>"$PGDATA/postgresql.conf"

	# The set-up server listens on no TCP port and on a socket of its own:
	# a health check (pg_isready) must not pass before the schema exists.
	sock=$(mktemp -d)
	"$bin/pg_ctl" -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=$sock" start >/dev/null
	psql() { command "$bin/psql" -v ON_ERROR_STOP=1 -X -q -h "$sock" -U "$POSTGRES_USER" "$@"; }
	if [ "$POSTGRES_DB" != postgres ]; then
		psql -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sql) echo "postgres: running $f" >&2; psql -d "$POSTGRES_DB" -f "$f" ;;
		*.sh) echo "postgres: running $f" >&2; . "$f" ;;
		esac
	done
	"$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
	rmdir "$sock"
	echo "postgres: set-up done" >&2
fi

# The official image stops with SIGINT (a fast shutdown, which does not
# wait for clients to leave); `docker import` cannot set STOPSIGNAL, so
# this shell stays to turn docker's SIGTERM into one.
"$bin/postgres" "$@" &
pid=$!
trap 'kill -INT "$pid"' TERM INT
status=0
wait "$pid" || status=$?
if kill -0 "$pid" 2>/dev/null; then
	# wait returned for the trap: the server is shutting down.
	status=0
	wait "$pid" || status=$?
fi
exit "$status"
