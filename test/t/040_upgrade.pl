# Upgrades from 0.1.  A database created with CREATE EXTENSION mq VERSION
# '0.1', with queues of every option, messages in every state, grants made
# with mq_grant and an administrator's own GRANT EXECUTE on mq_create and
# mq_status, keeps working with the new library before it updates (the C
# functions accept 0.1's argument lists).  ALTER EXTENSION mq UPDATE keeps
# every message, option and grant, including the administrator's grants on
# functions the update replaces, and mq_status can then wait.  The updated
# database's extension objects are then compared with a fresh CREATE
# EXTENSION mq: member objects, functions (definition, ACL, initial
# privileges), types and their attributes, views, tables (columns,
# defaults, constraints, indexes), schema and extension configuration; they
# must be identical.  Finally pg_dump of the updated database restores with
# the administrator's grants.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'mq'");
$node->start;

my $latest = $node->safe_psql('postgres',
	q(SELECT default_version FROM pg_available_extensions WHERE name = 'mq'));
isnt($latest, '0.1', "the library's default version is later than 0.1 ($latest)");

$node->safe_psql('postgres', q(
CREATE ROLE app;
CREATE ROLE producer;
CREATE ROLE consumer;
CREATE ROLE other;
CREATE DATABASE old;
CREATE DATABASE fresh;
));

sub as
{
	my ($role, $sql) = @_;
	return $node->safe_psql('old', "SET ROLE $role;\n$sql");
}

# --- a 0.1 database -------------------------------------------------------

$node->safe_psql('old', q(
CREATE EXTENSION mq VERSION '0.1';
SELECT mq_create('plain');
SELECT mq_create('opts', visibility_timeout => '5 minutes', max_attempts => 3,
                 backoff_base => '2 seconds', backoff_max => '1 minute');
SELECT mq_create('kept', retention => '1 day', max_attempts => 1);
SELECT mq_create('fast', unlogged => true);
SELECT mq_create('noted', notify => true);
SELECT mq_grant('plain', 'producer', 'send');
SELECT mq_grant('plain', 'consumer', 'read');
SELECT mq_grant('kept', 'producer', 'send');
SELECT mq_grant('opts', 'app', 'manage');
-- the administrator's own grants, on functions the update keeps and on
-- one it replaces
GRANT EXECUTE ON FUNCTION mq_create(text, interval, integer, interval, interval,
                                    interval, boolean, boolean) TO app;
REVOKE EXECUTE ON FUNCTION mq_status(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mq_status(text, bigint) TO app, producer;
GRANT EXECUTE ON FUNCTION mq_status(text, bigint) TO consumer WITH GRANT OPTION;
));
is($node->safe_psql('old', q(SELECT extversion FROM pg_extension WHERE extname = 'mq')),
	'0.1', 'created at 0.1');

# messages in every state; each is dealt with before the next is sent
my %id;
sub send_msg
{
	my ($name, $queue, $extra) = @_;
	$id{$name} = $node->safe_psql('old',
		"SELECT mq_send('$queue', jsonb_build_object('m', '$name')$extra)");
}
send_msg('ready', 'plain', '');
send_msg('delayed', 'plain', ", delay => '1 hour'");
send_msg('flight', 'opts', '');
$node->safe_psql('old', q(SELECT count(*) FROM mq_read('opts', visibility_timeout => '1 hour')));
send_msg('dead', 'kept', '');
$node->safe_psql('old', qq(
SELECT count(*) FROM mq_read('kept');
SELECT mq_nack('kept', $id{dead}, error => 'broken');
));
send_msg('retained', 'kept', '');
$node->safe_psql('old', qq(
SELECT count(*) FROM mq_read('kept');
SELECT mq_ack('kept', $id{retained}, result => '{"ok": true}');
));
send_msg('unlogged', 'fast', ", headers => '{\"h\": 1}'");
send_msg('noted', 'noted', '');

is( $node->safe_psql('old', qq(
SELECT string_agg(s.state, ',' ORDER BY s.state)
  FROM (VALUES ('plain', $id{ready}), ('plain', $id{delayed}), ('opts', $id{flight}),
               ('kept', $id{dead}), ('kept', $id{retained})) v(q, id),
       mq_status(v.q, v.id) s)),
	'dead,delayed,done,in_flight,ready',
	'the 0.1 database has a message in each state');

# --- the new library, before the update ------------------------------------

$id{before} = as('producer', q(SELECT mq_send('plain', '{"m": "before"}')));
like($id{before}, qr/^\d+$/, 'before the update: send');
is(as('consumer', q(SELECT body->>'m' FROM mq_read('plain', qty => 5) ORDER BY msg_id)),
	"ready\nbefore", 'read');
is(as('consumer', qq(SELECT mq_ack('plain', $id{ready}))), 't', 'ack');
is(as('consumer', "SELECT mq_nack('plain', $id{before}, delay => '1 hour', error => 'later')"),
	't', 'nack');
is(as('producer', "SELECT state || ' ' || attempt FROM mq_status('plain', $id{before})"),
	'delayed 1', 'mq_status with its two arguments, granted to the producer by the administrator');
is(as('consumer', qq(SELECT count(*) FROM mq_read('plain', wait => '100 ms'))),
	'0', 'a waiting read');
is( as('app', q(
SELECT mq_create('appq', visibility_timeout => '1 minute', max_attempts => 2,
                 retention => NULL, backoff_base => '1 second', backoff_max => '1 hour',
                 unlogged => false, notify => true))),
	't', 'mq_create with 0.1 arguments, by a role granted EXECUTE');
as('app', q(
SELECT mq_alter('opts', visibility_timeout => '6 minutes', max_attempts => 4,
                retention => '1 hour', backoff_base => '3 seconds',
                backoff_max => '2 minutes', unlogged => false, notify => false);
SELECT mq_alter('appq', notify => false);
));
is($node->safe_psql('old', q(SELECT max_attempts || ' ' || retention FROM mq_queues WHERE queue = 'opts')),
	'4 01:00:00', 'mq_alter with 0.1 arguments');
my ($rc, $out, $err) = $node->psql('old', q(SET ROLE other; SELECT mq_status('plain', 1)));
like($err, qr/permission denied for function mq_status/,
	'the administrator revoked mq_status from PUBLIC');

# --- the update ------------------------------------------------------------

# Everything an update must keep: catalog rows, grants, every row of every
# queue table, the position of each msg_id sequence, and the EXECUTE
# privileges of the roles on mq's functions, by name.  Rows are compared on
# the columns their tables had at 0.1 ($cols, taken before the update):
# columns a later version adds are not part of what it must keep.
my ($tables, %cols);
sub state_of
{
	my ($db) = @_;
	my $sql = q(
SELECT DISTINCT 'privilege ' || r.rolname || ' ' || p.proname || ' '
       || bool_or(has_function_privilege(r.oid, p.oid, 'EXECUTE')) OVER (PARTITION BY r.rolname, p.proname)
  FROM pg_proc p, pg_roles r
 WHERE p.proname IN ('mq_create', 'mq_status', 'mq_send', 'mq_read', 'mq_ack')
   AND r.rolname IN ('app', 'producer', 'consumer', 'other')
);
	for my $t (@$tables)
	{
		my $keys = join(',', @{ $cols{$t} });
		$sql .= "UNION ALL SELECT '$t ' || (SELECT jsonb_object_agg(e.key, e.value ORDER BY e.key)
		           FROM jsonb_each(to_jsonb(x)) e WHERE e.key = ANY('{$keys}'))::text FROM mq.$t x\n";
		(my $bare = $t) =~ s/"//g;
		# the sequence by its table: 0.2 renames it (q_<name>$msg_id_seq)
		$sql .= "UNION ALL SELECT '$t seq ' || coalesce(pg_sequence_last_value("
		  . "pg_get_serial_sequence('mq.$t', 'msg_id')::regclass)::text, 'unused')\n"
		  if $bare =~ /^q_/;
	}
	return $node->safe_psql($db, "SELECT * FROM ($sql) s(line) ORDER BY 1");
}

$tables = [ split ' ', $node->safe_psql('old', q(
SELECT string_agg(quote_ident(relname), ' ' ORDER BY relname) FROM pg_class
 WHERE relnamespace = 'mq'::regnamespace AND relkind = 'r'
   AND (relname ~ '^[qda]_' OR relname IN ('queue', 'grant')))) ];
for my $t (@$tables)
{
	(my $bare = $t) =~ s/"//g;
	$cols{$t} = [ split ' ', $node->safe_psql('old', qq(
SELECT string_agg(attname, ' ' ORDER BY attnum) FROM pg_attribute
 WHERE attrelid = 'mq."$bare"'::regclass AND attnum > 0 AND NOT attisdropped)) ];
}

my $before = state_of('old');
$node->safe_psql('old', 'ALTER EXTENSION mq UPDATE');
is($node->safe_psql('old', q(SELECT extversion FROM pg_extension WHERE extname = 'mq')),
	$latest, "ALTER EXTENSION mq UPDATE goes to $latest");
my $after = state_of('old');
is($after, $before,
	'the update keeps every queue, option, grant, message and EXECUTE privilege');
note 'compared ' . scalar(split /\n/, $before) . ' lines of state';

is( $node->safe_psql('old', q(
SELECT count(*) || ' ' || bool_and(has_function_privilege('app', p.oid, 'EXECUTE')
          AND has_function_privilege('consumer', p.oid, 'EXECUTE WITH GRANT OPTION')
          AND NOT has_function_privilege('other', p.oid, 'EXECUTE'))
  FROM pg_proc p WHERE p.proname = 'mq_status')),
	'1 true',
	"the administrator's grants on the replaced mq_status carry over, grant option and PUBLIC revoke included");

# mq_status waits now, for a producer holding send
my $t0 = time;
is( as('producer', "SELECT state FROM mq_status('plain', $id{delayed}, wait => '200 ms')"),
	'delayed', 'after the update mq_status waits (running out)');
ok(time - $t0 >= 0.2, 'it waited');
my $waiter = $node->background_psql('old', on_error_stop => 0);
send_msg('reply', 'kept', '');
$waiter->query_until(qr/waiting/, qq(SET ROLE producer;
\\echo waiting
SELECT state, result FROM mq_status('kept', $id{reply}, wait => '60 s');
));
$node->poll_query_until('old', q{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE wait_event_type = 'Extension' AND query LIKE '%mq_status(%'})
  or die 'the status waiter never slept';
$node->safe_psql('old', qq(
SELECT count(*) FROM mq_read('kept');
SELECT mq_ack('kept', $id{reply}, result => '{"answer": 42}');
));
like($waiter->query('SELECT 1'), qr/^done\|\{"answer": 42\}\n1$/m,
	'a waiting mq_status is woken by the ack and returns its result');
$waiter->quit;

# the queues still work
is(as('consumer', q(SELECT count(*) FROM mq_read('plain', qty => 10))), '0',
	'nothing readable in plain (delayed messages stay delayed)');
is($node->safe_psql('old', q(SELECT body->>'m' FROM mq_pop('fast'))), 'unlogged',
	'the unlogged queue kept its message');

# --- pg_dump of the updated database ----------------------------------------

my $dump = $node->basedir . '/old.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('old'), '-f', $dump ],
	'pg_dump of the updated database');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'),
	  '-f', $dump ],
	'it restores into a new database');
is(state_of('restored'), state_of('old'),
	"the restored database has every queue, message, grant and the administrator's EXECUTE grants");

# --- the updated objects equal a fresh install's ---------------------------

# The administrator's grants are not the extension's: take them back (and
# give PUBLIC back what it had) before comparing ACLs.
$node->safe_psql('old', q(
REVOKE EXECUTE ON FUNCTION mq_create FROM app;
REVOKE ALL ON FUNCTION mq_status FROM app, producer, consumer CASCADE;
GRANT EXECUTE ON FUNCTION mq_status TO PUBLIC;
));
$node->safe_psql('fresh', 'CREATE EXTENSION mq');

# Every object of the extension, described so that two databases compare.
my $describe = q(
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'mq'),
members AS (
	SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
	   AND d.deptype = 'e'),
init AS (
	SELECT objoid, classoid, objsubid, initprivs::text AS initprivs FROM pg_init_privs)
SELECT 'member ' || pg_describe_object(classid, objid, objsubid) FROM members
UNION ALL
SELECT 'extension ' || e.extversion || ' '
       || coalesce((SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
                     FROM unnest(e.extconfig) c), '') || ' '
       || coalesce(array_to_string(e.extcondition, ','), '') || ' '
       || e.extrelocatable || ' ' || e.extnamespace::regnamespace
  FROM pg_extension e WHERE e.extname = 'mq'
UNION ALL
SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
       || E'\nacl ' || coalesce(p.proacl::text, 'default')
       || E'\ninit ' || coalesce(i.initprivs, 'none')
       || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
  FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
  LEFT JOIN init i ON i.classoid = 'pg_proc'::regclass AND i.objoid = p.oid AND i.objsubid = 0
 WHERE p.prokind <> 'a'
UNION ALL
SELECT 'type ' || format_type(t.oid, NULL) || ' ' || t.typtype::text || ' '
       || coalesce(t.typacl::text, 'default')
       || coalesce((SELECT E'\n' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                               || ' ' || a.attcollation::regcollation::text,
                                               E'\n' ORDER BY a.attnum)
                     FROM pg_attribute a
                    WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '')
  FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
UNION ALL
SELECT 'relation ' || c.oid::regclass || ' ' || c.relkind::text || ' ' || c.relpersistence::text
       || ' acl ' || coalesce(c.relacl::text, 'default')
       || ' init ' || coalesce(i.initprivs, 'none')
       || ' options ' || coalesce(c.reloptions::text, '')
       || coalesce(E'\nview ' || CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END, '')
       || coalesce((SELECT E'\n' || string_agg('column ' || a.attname || ' '
                                               || format_type(a.atttypid, a.atttypmod)
                                               || ' ' || a.attnotnull
                                               || ' ' || coalesce(a.attcollation::regcollation::text, '')
                                               || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
                                               || ' ' || a.attidentity::text || a.attgenerated::text,
                                               E'\n' ORDER BY a.attnum)
                     FROM pg_attribute a
                     LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
       || coalesce((SELECT E'\n' || string_agg('constraint ' || co.conname || ' '
                                               || pg_get_constraintdef(co.oid), E'\n' ORDER BY co.conname)
                     FROM pg_constraint co WHERE co.conrelid = c.oid), '')
       || coalesce((SELECT E'\n' || string_agg('index ' || pg_get_indexdef(x.indexrelid), E'\n'
                                               ORDER BY x.indexrelid::regclass::text)
                     FROM pg_index x WHERE x.indrelid = c.oid), '')
       || coalesce((SELECT E'\n' || string_agg('trigger ' || pg_get_triggerdef(tg.oid), E'\n' ORDER BY tg.tgname)
                     FROM pg_trigger tg WHERE tg.tgrelid = c.oid AND NOT tg.tgisinternal), '')
       || E'\ncomment ' || coalesce(obj_description(c.oid, 'pg_class'), '')
  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  LEFT JOIN init i ON i.classoid = 'pg_class'::regclass AND i.objoid = c.oid AND i.objsubid = 0
UNION ALL
SELECT 'schema ' || n.nspname || ' ' || pg_get_userbyid(n.nspowner) || ' '
       || coalesce(n.nspacl::text, 'default') || ' ' || coalesce(i.initprivs, 'none')
       || E'\ncomment ' || coalesce(obj_description(n.oid, 'pg_namespace'), '')
  FROM members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
  LEFT JOIN init i ON i.classoid = 'pg_namespace'::regclass AND i.objoid = n.oid AND i.objsubid = 0
UNION ALL
SELECT 'init privilege ' || pg_describe_object(i.classoid, i.objoid, i.objsubid) || ' ' || i.initprivs
  FROM init i JOIN members m ON m.classid = i.classoid AND m.objid = i.objoid
ORDER BY 1;
);

my $updated = $node->safe_psql('old', $describe);
my $fresh = $node->safe_psql('fresh', $describe);
my %kinds;
$kinds{$1}++ while $fresh =~ /^(member|function|type|relation|schema|extension|init privilege) /mg;
note 'compared: ' . join(', ', map { "$kinds{$_} $_" } sort keys %kinds);
ok($kinds{function} && $kinds{type} && $kinds{relation} && $kinds{extension},
	'the description covers functions, types, relations and the extension');
if ($updated eq $fresh)
{
	pass("an updated database's extension objects equal a fresh $latest install's");
}
else
{
	# show only the lines that differ
	my %u = map { $_ => 1 } split /\n/, $updated;
	my %f = map { $_ => 1 } split /\n/, $fresh;
	diag "only after the update: $_" for grep { !$f{$_} } split /\n/, $updated;
	diag "only in a fresh install: $_" for grep { !$u{$_} } split /\n/, $fresh;
	fail("an updated database's extension objects equal a fresh $latest install's");
}

$node->stop;
done_testing();
