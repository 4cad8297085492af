# Appends that a backend's marks cannot carry (src/stream_order.c):
#
# - a prepared transaction that appended or published into streams holds
#   back the records behind its own in their partitions until COMMIT or
#   ROLLBACK PREPARED, across a restart too, and then they are delivered in
#   msg_id order (or leave no hole);
# - a transaction that publishes into more streams than it can mark holds
#   back those streams only, not every stream of the database, with and
#   without max_prepared_transactions.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fan = 10;	# streams bound to the topic: more than a transaction can mark

sub setup
{
	my ($name, $prepared) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'mq'
max_prepared_transactions = $prepared
));
	$node->start;
	my $sql = q(
CREATE EXTENSION mq;
SELECT mq_create_stream('p');
SELECT mq_create_stream('other');
SELECT mq_create_topic('fan');
);
	$sql .= "SELECT mq_create_stream('f$_'), mq_bind('f$_', 'fan');\n" for 1 .. $fan;
	$node->safe_psql('postgres', $sql);
	return $node;
}

# the bodies' "n" a consume of group returns, in order, joined by commas
sub consume
{
	my ($node, $stream, $group) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(body->>'n', ',' ORDER BY msg_id), '')"
		. " FROM mq_consume('$stream', '$group', 100)");
}

# A publish into every bound stream, left open: each stream's records behind
# it wait for it, the other streams' do not.
sub open_publish
{
	my ($node, $label) = @_;
	my $open = $node->background_psql('postgres', on_error_stop => 1);
	$open->query_safe(q(BEGIN; SELECT mq_publish('fan', 'k', '{"n": "open"}')));
	$node->safe_psql('postgres', qq(SELECT mq_append('other', '{"n": "other"}')));
	is(consume($node, 'other', 'g'), 'other',
		"$label: a stream the open publish did not reach is consumed");
	my $sql = '';
	$sql .= "SELECT mq_append('f$_', '{\"n\": \"later\"}');\n" for 1 .. $fan;
	$node->safe_psql('postgres', $sql);
	my @held = grep { consume($node, "f$_", 'g') eq '' } 1 .. $fan;
	is(scalar(@held), $fan,
		"$label: every stream the open publish reached holds back the record behind it");
	$open->query_safe('COMMIT');
	$open->quit;
	my @both = grep { consume($node, "f$_", 'g') eq 'open,later' } 1 .. $fan;
	is(scalar(@both), $fan,
		"$label: after its commit, each of those streams delivers both, in msg_id order");
}

my $node = setup('prepared', 5);

# an append prepared: what comes behind it waits, across a restart
$node->safe_psql('postgres', q(
BEGIN;
SELECT mq_append('p', '{"n": 1}');
PREPARE TRANSACTION 'a1';
));
pass('a transaction that appended is prepared');
$node->safe_psql('postgres', q(SELECT mq_append('p', '{"n": 2}')));
is(consume($node, 'p', 'g'), '', 'a prepared append holds back the record behind it');
$node->restart;
is(consume($node, 'p', 'g'), '', 'and does so after a restart');
$node->safe_psql('postgres', q(COMMIT PREPARED 'a1'));
is(consume($node, 'p', 'g'), '1,2', 'COMMIT PREPARED: both, in msg_id order');

# an append prepared, then rolled back: no hole
$node->safe_psql('postgres', q(
BEGIN;
SELECT mq_append('p', '{"n": 3}');
PREPARE TRANSACTION 'a2';
));
$node->safe_psql('postgres', q(SELECT mq_append('p', '{"n": 4}')));
is(consume($node, 'p', 'g'), '', 'a second prepared append holds back');
$node->safe_psql('postgres', q(ROLLBACK PREPARED 'a2'));
is(consume($node, 'p', 'g'), '4', 'ROLLBACK PREPARED leaves no hole');

# a publish into every bound stream, prepared
$node->safe_psql('postgres', q(
BEGIN;
SELECT mq_publish('fan', 'k', '{"n": "prepared"}');
PREPARE TRANSACTION 'pub';
));
pass('a transaction that published into streams is prepared');
my @none = grep { consume($node, "f$_", 'g') eq '' } 1 .. $fan;
is(scalar(@none), $fan, 'nothing of the prepared publish is delivered');
$node->safe_psql('postgres', q(COMMIT PREPARED 'pub'));
my @one = grep { consume($node, "f$_", 'g') eq 'prepared' } 1 .. $fan;
is(scalar(@one), $fan, 'COMMIT PREPARED: every stream gets its copy');

open_publish($node, 'with two-phase commit');
$node->stop;

# without two-phase commit, consumers test the locks only while some
# transaction takes them
my $plain = setup('plain', 0);
open_publish($plain, 'without two-phase commit');
$plain->stop;

done_testing();
