#!/usr/bin/env bash
# Every test of mq against the server the environment points at (PGHOST,
# PGPORT, ...; pg_virtualenv sets them).  Run from the top of a built tree.
set -uo pipefail

declare -A status
failed=0
run() {
	local name=$1
	shift
	echo "== $name"
	if "$@"; then
		status[$name]=ok
	else
		status[$name]=FAILED
		failed=1
		for f in regression.diffs output_iso/regression.diffs; do
			[ -f "$f" ] && cat "$f"
		done
	fi
}

run regress make -s installcheck-regress
run isolation make -s installcheck-isolation
run pgtap bash -c 'dropdb --if-exists mq_pgtap && createdb mq_pgtap &&
	psql -qX -d mq_pgtap -c "CREATE EXTENSION pgtap; CREATE EXTENSION mq" &&
	pg_prove -d mq_pgtap --ext .sql test/pgtap/'
if ls test/t/*.pl >/dev/null 2>&1; then
	run perl make -s installcheck-tap
fi
# the clients, the examples and the README's snippets
py=/usr/bin/python3
[ -x $py ] || py=python3
run python $py -m pytest -q -p no:cacheprovider clients/python/tests examples/test_examples.py
run node bash -c 'cd clients/node && { [ -d node_modules ] || npm ci --no-audit --no-fund; } &&
	node --test test/*.test.js'

summary="mq test summary:"
for k in regress isolation pgtap perl python node; do
	[ -n "${status[$k]:-}" ] && summary+=" $k ${status[$k]};"
done
if [ $failed -eq 0 ]; then
	summary+=" result PASS"
else
	summary+=" result FAIL"
fi
echo "$summary"
[ -n "${MQ_SUMMARY_FILE:-}" ] && echo "$summary" >"$MQ_SUMMARY_FILE"
exit $failed
