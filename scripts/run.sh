#!/usr/bin/env bash
# The README's two commands.  As root on a fresh Debian 12 machine with
# PostgreSQL 15:
#   scripts/run.sh test   install build dependencies, build, install, run every test
#   scripts/run.sh demo   install, start a throwaway server with mq preloaded,
#                         and show a producer and consumers at work
# As a non-root user it skips the apt step and expects the dependencies.
set -euo pipefail

mode=${1:-test}
top=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
export PATH="$PGBIN:$PATH"

install_deps() {
	local need=()
	for p in make gcc postgresql-server-dev-15 libkrb5-dev postgresql-15-pgtap libipc-run-perl \
		prometheus-postgres-exporter python3-psycopg python3-pytest pgbouncer \
		libtap-parser-sourcehandler-pgtap-perl; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	# the Node client's tests: Debian's nodejs and npm, unless a node is installed
	command -v node >/dev/null 2>&1 || need+=(nodejs)
	command -v npm >/dev/null 2>&1 || need+=(npm)
	[ ${#need[@]} -eq 0 ] && return
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${need[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "== installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

build_install() {
	echo "== building and installing mq"
	make -C "$top" -s clean >/dev/null
	make -C "$top" -s
	make -C "$top" -s install >/dev/null
}

# Run a command as the postgres user (PostgreSQL refuses to run as root), in a
# copy of the tree that postgres owns.
as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		local work
		work=$(mktemp -d /tmp/mq-run.XXXXXX)
		cp -a "$top/." "$work/"
		chown -R postgres "$work"
		runuser -u postgres -- env -C "$work" "$@"
	else
		env -C "$top" "$@"
	fi
}

install_deps
build_install

case "$mode" in
	test)
		summary=$(mktemp /tmp/mq-summary.XXXXXX)
		chmod 666 "$summary"
		rc=0
		as_postgres env MQ_SUMMARY_FILE="$summary" \
			pg_virtualenv -o shared_preload_libraries=mq \
			bash scripts/test-suite.sh || rc=$?
		# the summary last, after whatever the server log printed
		echo
		cat "$summary"
		rm -f "$summary"
		exit $rc
		;;
	demo)
		as_postgres bash scripts/demo.sh
		;;
	*)
		echo "usage: $0 test|demo" >&2
		exit 2
		;;
esac
