# The worker's part in ordering and control: it dead-letters a group's
# exhausted head and so releases the group (the next message is readable
# at once); it forgets dedup keys whose window has ended and the rows of
# groups left empty.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = PostgreSQL::Test::Cluster->new('order_worker');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.worker_naptime = 200
});
$node->start;

sub wait_for
{
	my ($query, $limit) = @_;
	my $start = time;
	while (time - $start < $limit)
	{
		my ($ret, $out) = $node->psql('postgres', $query);
		return time - $start if $ret == 0 && $out eq 't';
		usleep(50_000);
	}
	return undef;
}

$node->safe_psql('postgres', q{
CREATE EXTENSION mq;
SELECT mq_create('og', visibility_timeout => '300 ms', max_attempts => 1, dedup_window => '1 s');
});
my $h = $node->safe_psql('postgres', q{SELECT mq_send('og', '{"n": 1}', group_id => 'G')});
my $n2 = $node->safe_psql('postgres', q{SELECT mq_send('og', '{"n": 2}', group_id => 'G')});
is($node->safe_psql('postgres', q{SELECT msg_id FROM mq_read('og')}), $h, 'the head is read, on its last attempt');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mq_read('og')}), '0', 'the group is blocked');
ok(defined wait_for("SELECT count(*) = 1 FROM mq_dead('og') WHERE msg_id = $h", 10),
	'the worker dead-letters the exhausted head');
is($node->safe_psql('postgres', q{SELECT msg_id FROM mq_read('og')}), $n2,
	'and the group moves on to its next message');
is($node->safe_psql('postgres', qq{SELECT mq_ack('og', $n2)}), 't', 'which is acked');
ok(defined wait_for("SELECT count(*) = 0 FROM mq.g_og", 10), 'the worker forgets the empty group');

$node->safe_psql('postgres', q{SELECT mq_send('og', '{}', dedup_key => 'k')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM mq.k_og}), '1', 'a dedup key is held');
ok(defined wait_for("SELECT count(*) = 0 FROM mq.k_og", 10),
	'the worker forgets it once its window has ended');

$node->stop;
done_testing();
