#!/usr/bin/env bash
# Print the install script of mq version $1: the script of the first
# release, sql/mq--0.1.sql, followed by each update script on the path
# from 0.1 to $1.  A fresh install therefore runs exactly the SQL that an
# ALTER EXTENSION mq UPDATE runs after 0.1, and each change of the SQL
# surface is written once, in its update script.  Run by make.
set -euo pipefail

target=$1
dir=$(cd "$(dirname "$0")/../sql" && pwd)
version=0.1

echo "/* mq--$target.sql: generated from sql/mq--0.1.sql and the update scripts; edit those */"
echo
cat "$dir/mq--$version.sql"
while [ "$version" != "$target" ]; do
	next=$(ls "$dir" | sed -n "s/^mq--$version--\(.*\)\.sql\$/\1/p" | head -n1)
	if [ -z "$next" ]; then
		echo "no update script from $version towards $target" >&2
		exit 1
	fi
	echo
	# the update script's guard line is for psql, as the install script's is
	grep -v '^\\echo' "$dir/mq--$version--$next.sql"
	version=$next
done
