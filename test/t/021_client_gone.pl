# A waiting read whose client has gone ends at once and leases nothing:
# a psql killed with SIGKILL during mq_read(wait => '60 s'), and a client
# that closes its socket while its read waits (and is still alive), leave no
# session behind to lease the next message, which is ready at attempt 0 at
# once.  The same for a producer waiting in mq_status(wait => ...).  The
# server logs the lost connections and no backend crashes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::UNIX;
use IPC::Run ();
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('gone');
$node->init;
$node->append_conf('postgresql.conf', q(
shared_preload_libraries = 'mq'
log_min_messages = info
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION mq;
SELECT mq_create('gone', visibility_timeout => '1 hour');
));

# Backends of this test's clients, by application_name.
sub backend_count
{
	my ($app) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = '$app'");
}

sub wait_for_sleeper
{
	my ($app) = @_;
	$node->poll_query_until('postgres', qq(
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE application_name = '$app' AND wait_event_type = 'Extension'))
	  or die "timed out waiting for the $app client to sleep in its wait";
}

sub wait_for_backend_exit
{
	my ($app) = @_;
	$node->poll_query_until('postgres', qq(
SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = '$app'))
	  or die "timed out waiting for the backend of $app to end";
}

# A psql running one statement, in the background; returns the harness.
sub start_psql
{
	my ($app, $sql) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . " application_name=$app",
		  '-c', $sql ],
		'<', \$in, '>', \$out, '2>', \$err);
	return $h;
}

# The state and attempt of a message, and whether it is leased.
sub fate
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT state || ' ' || attempt FROM mq_status('gone', $id)");
}

# --- psql killed with SIGKILL during a waiting read -----------------------

my $t0 = time;
my $h = start_psql('killed',
	q(SELECT count(*) FROM mq_read('gone', wait => '60 s')));
wait_for_sleeper('killed');
$h->signal('KILL');
eval { $h->finish };
# the socket closed with the process: the backend notices without any send
wait_for_backend_exit('killed');
my $gone = time - $t0;
ok($gone < 30,
	sprintf('the backend of a killed client ends at once, not at the end of its 60 s wait (%.1f s)',
		$gone));
my $id = $node->safe_psql('postgres', q(SELECT mq_send('gone', '{"n": 1}')));
is(fate($id), 'ready 0', 'the next message is ready at attempt 0: nobody leased it');
$node->safe_psql('postgres', q(SELECT count(*) FROM mq_pop('gone', 10)));

# --- a live client that closes its socket during a waiting read -----------

# Speak the protocol by hand, so that the client process stays alive and
# only its connection goes: startup, then one query, never read.
sub raw_connect
{
	my ($app) = @_;
	my $path = $node->host . '/.s.PGSQL.' . $node->port;
	my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path)
	  or die "cannot connect to $path: $!";
	my $params = join('', map { "$_\0" }
		  user => scalar(getpwuid($<)), database => 'postgres',
		  application_name => $app) . "\0";
	print $sock pack('NN', 8 + length($params), 196608) . $params;
	# read until ReadyForQuery
	my $buf = '';
	while ($buf !~ /Z\0\0\0\x05I/)
	{
		my $n = sysread($sock, $buf, 4096, length $buf);
		die "connection closed during startup" unless $n;
		die "authentication needed or error: $buf" if $buf =~ /^[ER]/ && $buf !~ /^R\0\0\0\x08\0\0\0\0/;
	}
	return $sock;
}

sub raw_query
{
	my ($sock, $sql) = @_;
	print $sock 'Q' . pack('N', 4 + length($sql) + 1) . $sql . "\0";
	$sock->flush;
}

$t0 = time;
my $sock = raw_connect('closed');
raw_query($sock, q(SELECT count(*) FROM mq_read('gone', wait => '60 s')));
wait_for_sleeper('closed');
close $sock;
# send at once: whichever wakes the waiter first, the send's commit or the
# closed socket, it must not lease the message
$id = $node->safe_psql('postgres', q(SELECT mq_send('gone', '{"n": 2}')));
wait_for_backend_exit('closed');
$gone = time - $t0;
ok($gone < 30,
	sprintf('the backend of a client that closed its socket ends at once (%.1f s)', $gone));
is(fate($id), 'ready 0',
	'a message sent right after the client closed its socket is ready at attempt 0');
is($node->safe_psql('postgres', q(SELECT in_flight FROM mq_metrics('gone'))),
	'0', 'nothing is in flight');
$node->safe_psql('postgres', q(SELECT count(*) FROM mq_pop('gone', 10)));

# --- a producer waiting in mq_status --------------------------------------

my $waited = $node->safe_psql('postgres', q(SELECT mq_send('gone', '{"n": 3}')));
$node->safe_psql('postgres', q(SELECT count(*) FROM mq_read('gone', qty => 10)));
$t0 = time;
$h = start_psql('status',
	"SELECT state FROM mq_status('gone', $waited, wait => '60 s')");
wait_for_sleeper('status');
$h->signal('KILL');
eval { $h->finish };
wait_for_backend_exit('status');
$gone = time - $t0;
ok($gone < 30,
	sprintf('a killed client waiting in mq_status ends its session at once (%.1f s)', $gone));

$t0 = time;
$sock = raw_connect('status_closed');
raw_query($sock, "SELECT state FROM mq_status('gone', $waited, wait => '60 s')");
wait_for_sleeper('status_closed');
close $sock;
wait_for_backend_exit('status_closed');
$gone = time - $t0;
ok($gone < 30,
	sprintf('so does one whose client closed its socket (%.1f s)', $gone));

# --- what the server says --------------------------------------------------

my $lost = () = slurp_file($node->logfile) =~ /connection to client lost/g;
cmp_ok($lost, '>=', 4, "the server logs each lost connection ($lost)");
ok(!$node->log_contains('terminated by signal'), 'no backend crashed');
is(backend_count('killed') + backend_count('closed') + backend_count('status')
	  + backend_count('status_closed'),
	0, 'no session is left behind');

$node->stop;
done_testing();
