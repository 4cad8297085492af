# The worker's part in ordering and control: it dead-letters a group's
# exhausted head and so releases the group (the next message is readable
# at once); it forgets dedup keys whose window has ended and the rows of
# groups left empty.  Reads, pops and acks of queues with priorities or
# groups that lease a last attempt or retain an ack tell the worker, which
# then acts on time however many idle queues it skips.
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

# A read on the last attempt, a pop kept for retention and an ack of a
# message of a group kept for retention make work for the worker (a lease
# end, retention ends), which the transaction announces to it (due.c): with
# many idle queues the worker otherwise looks at a queue only in its slow
# round, two queues a pass.  With 70 idle queues and a pass a second, that
# round comes back to a queue every 35 s or so; announced work is done
# within a second or two of falling due.  The three queues are looked at in
# the same slow round (they are listed by name, one after the other), and
# the work is made just after that look, which is known because the
# worker forgets a dedup key of 1 s only when it looks at the queue: the
# work then waits a whole round unless it was announced.
$node->safe_psql('postgres', q{
ALTER SYSTEM SET mq.worker_naptime = 1000;
SELECT pg_reload_conf();
DO $$ BEGIN
  FOR i IN 1..70 LOOP
    PERFORM mq_create(format('idle_%s', lpad(i::text, 3, '0')));
  END LOOP;
END $$;
SELECT mq_create('pz_group', retention => '1 s', dedup_window => '1 s');
SELECT mq_create('pz_lease', visibility_timeout => '1 s', max_attempts => 1,
                 dedup_window => '1 s');
SELECT mq_create('pz_pop', retention => '1 s', dedup_window => '1 s');
SELECT mq_send('pz_group', '{}', group_id => 'G', dedup_key => 'k');
SELECT mq_send('pz_lease', '{}', priority => 5, dedup_key => 'k');
SELECT mq_send('pz_pop', '{}', priority => 5, dedup_key => 'k');
});
ok(defined wait_for(q{SELECT (SELECT count(*) FROM mq.k_pz_group)
	+ (SELECT count(*) FROM mq.k_pz_lease) + (SELECT count(*) FROM mq.k_pz_pop) = 0}, 180),
	'the worker looks at the three queues in its slow round');
my $g = $node->safe_psql('postgres', q{SELECT msg_id FROM mq_read('pz_group')});
$node->safe_psql('postgres', qq{
SELECT msg_id FROM mq_read('pz_lease');
SELECT msg_id FROM mq_pop('pz_pop');
SELECT mq_ack('pz_group', $g);
});
my $start = time;
my ($t_lease, $t_pop, $t_group);
while (time - $start < 60 && !(defined $t_lease && defined $t_pop && defined $t_group))
{
	$t_lease //= time - $start if $node->safe_psql('postgres',
		q{SELECT count(*) FROM mq_dead('pz_lease')}) eq '1';
	$t_pop //= time - $start if $node->safe_psql('postgres',
		q{SELECT count(*) FROM mq.a_pz_pop}) eq '0';
	$t_group //= time - $start if $node->safe_psql('postgres',
		q{SELECT count(*) FROM mq.a_pz_group}) eq '0';
	usleep(50_000);
}
note sprintf('dead letter after %s s, retention ends after %s s (pop) and %s s (ack of a group)',
	map { defined $_ ? sprintf('%.1f', $_) : 'over 60' } $t_lease, $t_pop, $t_group);
ok(defined $t_lease && $t_lease < 12,
	'a priority read on the last attempt: dead-lettered when its 1 s lease ends, not a round later');
ok(defined $t_pop && $t_pop < 12,
	'a priority pop kept for retention: purged when its 1 s retention ends');
ok(defined $t_group && $t_group < 12,
	'an ack of a message of a group kept for retention: purged when its 1 s retention ends');

$node->stop;
done_testing();
