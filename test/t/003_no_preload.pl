# Without shared_preload_libraries: everything works but nothing dead-letters
# expired last leases until mq_worker_start() starts a worker, which only a
# superuser or the extension owner may do; that worker does not stand in the
# way of DROP DATABASE either.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->append_conf('postgresql.conf', 'log_statement = none');
$node->start;

sub wait_for
{
	my ($db, $query, $limit) = @_;
	my $start = time;
	while (time - $start < $limit)
	{
		my ($ret, $out) = $node->psql($db, $query);
		return time - $start if $ret == 0 && $out eq 't';
		usleep(50_000);
	}
	return undef;
}

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE EXTENSION mq');
$node->safe_psql('app',
	"SELECT mq_create('poison', visibility_timeout => '200 ms', max_attempts => 1)");
my $id = $node->safe_psql('app', "SELECT mq_send('poison', '{}')");
$node->safe_psql('app', "SELECT count(*) FROM mq_read('poison')");
$node->safe_psql('app', 'SELECT pg_sleep(2)');

is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'mq %'"),
	'0', 'no launcher or worker without preload');
is($node->safe_psql('app', "SELECT state FROM mq_status('poison', $id)"), 'in_flight',
	'an expired last lease waits for a worker');

# no shared memory: mq_stats and mq_consumers are empty, resetting does
# nothing, mq_metrics works
is($node->safe_psql('app', 'SELECT count(*) FROM mq_stats'), '0', 'mq_stats is empty without preload');
is($node->safe_psql('app', 'SELECT count(*) FROM mq_consumers'), '0', 'so is mq_consumers');
is($node->safe_psql('app', "SELECT mq_stats_reset('poison')"), '', 'mq_stats_reset does nothing');
is($node->safe_psql('app', "SELECT in_flight FROM mq_metrics('poison')"), '1', 'mq_metrics works');

$node->safe_psql('app', 'CREATE ROLE nobody');
my ($ret, $out, $err) = $node->psql('app', 'SET ROLE nobody; SELECT mq_worker_start()');
like($err, qr/permission denied for function mq_worker_start/,
	'others may not start a worker');

is($node->safe_psql('app', 'SELECT mq_worker_start()'), 't', 'mq_worker_start() starts one');
ok(defined wait_for('app',
	"SELECT count(*) = 1 FROM mq_dead('poison') WHERE msg_id = $id", 10),
	'which dead-letters the message within seconds');
is($node->safe_psql('app', 'SELECT mq_worker_start()'), 'f', 'a second call finds it running');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = 'app'"),
	'1', 'one worker');

# the worker leaves for CREATE DATABASE ... TEMPLATE and comes back by itself
($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE copy TEMPLATE app');
is($ret, 0, "CREATE DATABASE ... TEMPLATE of its database succeeds ($err)");
ok(defined wait_for('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = 'app'",
	15), 'and the worker comes back');

my $start = time;
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE app');
my $took = time - $start;
is($ret, 0, "DROP DATABASE of its database succeeds ($err)");
ok($took < 20, sprintf('without waiting for the worker (%.2f s)', $took));
ok(defined wait_for('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'mq worker'", 15),
	'and no worker is left');

$node->stop;
done_testing();
