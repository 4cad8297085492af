#!/usr/bin/env bash
# make bench [MODE=short|full]
#
# Build and install mq, start a throwaway PostgreSQL server, and run every
# scenario of the benchmark (bench/bench.pl) against mq, the plain-SQL
# reference queue (bench/ref.sql) and PgQ; print the table and leave it,
# with the raw figures and a chart, in bench/results.
#
# As root on a fresh Debian machine it installs what is missing
# (postgresql-15-pgq3, gnuplot-nox, valgrind, the build tools), builds and installs mq
# into the PostgreSQL that PG_CONFIG names, and runs the server and the
# benchmark as the postgres user in a copy of the tree.  As another user it
# expects all that to be in place and the PostgreSQL directories writable.
#
# Environment:
#   MODE        short (a few minutes) or full (about 20 minutes); short by default
#   PG_CONFIG   pg_config of the PostgreSQL to build for, install into and run
#               (default /usr/lib/postgresql/15/bin/pg_config)
#   PGBIN       its programs (default: pg_config --bindir)
#   BENCH_PORT  port of the throwaway server (default 5499)
#   BENCH_OUT   where the results go (default bench/results)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
system_pg_config=/usr/lib/postgresql/15/bin/pg_config
export MODE=${MODE:-short}
if [ -z "${PG_CONFIG:-}" ] || [ "$PG_CONFIG" = pg_config ]; then
	PG_CONFIG=$system_pg_config
fi
export PG_CONFIG
export BENCH_PORT=${BENCH_PORT:-5499}
export BENCH_OUT=${BENCH_OUT:-$top/bench/results}

# The second half: as a user PostgreSQL accepts, start the server, run the
# benchmark, stop the server.
if [ "${1:-}" = --serve ]; then
	export PGBIN=${PGBIN:-$("$PG_CONFIG" --bindir)}
	dir=$(mktemp -d /tmp/mq-bench.XXXXXX)
	export PGHOST=$dir PGPORT=$BENCH_PORT PGDATABASE=bench PGUSER=$(id -un)
	"$PGBIN/initdb" -D "$dir/data" -A trust -U "$PGUSER" >/dev/null
	cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'mq'
listen_addresses = ''
unix_socket_directories = '$dir'
port = $BENCH_PORT
max_connections = 50
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
CONF
	"$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
	trap '"$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null; rm -rf "$dir"' EXIT
	"$PGBIN/createdb" bench
	perl "$top/bench/bench.pl"
	# SPEC 12.5: groups and priority against a plain queue (not with
	# BENCH_ONLY, which runs some of bench.pl's scenarios alone)
	if [ -z "${BENCH_ONLY:-}" ]; then
		perl "$top/bench/order.pl" | tee "$BENCH_OUT/order.txt"
		# instructions per call (callgrind), which the machine's load does not move
		bash "$top/bench/instructions.sh" | tee "$BENCH_OUT/instructions.txt"
	fi
	exit
fi

install_deps() {
	local need=()
	for p in make gcc postgresql-15 postgresql-server-dev-15 libkrb5-dev postgresql-15-pgq3 \
		gnuplot-nox libpq-dev valgrind; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	[ ${#need[@]} -eq 0 ] && return
	echo "== installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

build_install() {
	local args=(PG_CONFIG="$PG_CONFIG")
	# A relocated copy of PostgreSQL may come without its server headers:
	# build against the system's, which are the same version.
	if [ ! -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ] &&
		[ -f /usr/include/postgresql/15/server/postgres.h ]; then
		args+=(includedir_server=/usr/include/postgresql/15/server
			includedir_internal=/usr/include/postgresql/internal)
	fi
	echo "== building and installing mq ($PG_CONFIG)"
	make -C "$top" -s "${args[@]}" clean >/dev/null
	make -C "$top" -s "${args[@]}" >/dev/null
	make -C "$top" -s "${args[@]}" install >/dev/null
}

# Only the default (system) PostgreSQL gets packages: another one is
# expected to come complete.
if [ "$(id -u)" -eq 0 ] && [ "$PG_CONFIG" = "$system_pg_config" ]; then
	install_deps
fi
export PGBIN=${PGBIN:-$("$PG_CONFIG" --bindir)}
build_install

if [ "$(id -u)" -eq 0 ]; then
	# PostgreSQL refuses to run as root: run as postgres in a copy it owns.
	work=$(mktemp -d /tmp/mq-bench-tree.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	cp -a "$top/." "$work/"
	mkdir -p "$BENCH_OUT"
	chown -R postgres "$work"
	runuser -u postgres -- env BENCH_OUT="$work/bench/results" \
		bash "$work/bench/run.sh" --serve
	cp -a "$work/bench/results/." "$BENCH_OUT/"
else
	bash "$top/bench/run.sh" --serve
fi
