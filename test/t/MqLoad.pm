
=pod

=head1 NAME

MqLoad - concurrent producers and consumers for mq's cluster tests, and the
checker that reconciles what they committed with what the database holds

=head1 SYNOPSIS

  $node->safe_psql('postgres', MqLoad::setup_sql('jobs', max_attempts => 5));
  my $load = MqLoad->new(connstr => $node->connstr('postgres'),
      queue => 'jobs', max_attempts => 5, dir => "$tmp/load");
  $load->start;
  ... crash, restart, fail over ...
  $load->stop_producers;
  ... wait until the queue is drained ...
  $load->stop_consumers;
  my $r = $load->reconcile($node, 'postgres');

=head1 DESCRIPTION

Each client is a forked process that runs one transaction at a time through
psql (-v ON_ERROR_STOP=1) and appends what it learnt to its own log file.  A
transaction counts as committed only when psql exited with status 0, which
it does only after the server answered COMMIT; when the server dies first,
the client records the transaction as in doubt and carries on (reconnecting
with every new psql), so clients ride through crashes, restarts and
failovers.

=over

=item producers

send 1 to 4 messages per transaction (mq_send or mq_send_batch), some with a
delay, some marked "poison"; one transaction in twenty ends in ROLLBACK.
Log: S (committed), R (rolled back), U (in doubt) with the ids and the
message numbers.

=item transactional consumers

read up to 4 messages, and in the same transaction ack each (writing a row
into the application table "processed" in that transaction: the
effectively-once pattern) or nack it (poison messages always; others whose
number ends in 3 on their first attempt).  Log: T lines, one per message, for
committed transactions.

=item leasing consumers

read up to 3 messages in one transaction (the lease commits), "work" for a
few milliseconds, then ack or nack them in a second transaction, fenced by
attempt, again writing to "processed" in the ack's transaction.  A crash
between the two leaves leases nobody will ack.  Log: D (committed read), d
(read in doubt), L (committed ack or nack), F (ack or nack in doubt).

=back

The checker reads those logs and the queue's tables and counts: every
committed send must be in exactly one of the live table, the dead letters or
"processed"; an ack that committed must not be undone; a message may be
delivered again after its delivery ended otherwise than with a committed nack
only if that delivery's lease was cut (its consumer never learnt the outcome
of its ack, or its fenced ack found the lease gone).

=cut

package MqLoad;

use strict;
use warnings;

use IO::Handle;
use IPC::Run ();
use POSIX ();
use Time::HiRes ();

# The SQL that creates the queue and the application table.
sub setup_sql
{
	my ($queue, %opt) = @_;
	my $max_attempts = $opt{max_attempts} // 5;
	my $vt = $opt{visibility_timeout} // '8 seconds';

	return qq{
		SELECT mq_create('$queue', visibility_timeout => '$vt',
						 max_attempts => $max_attempts,
						 backoff_base => '100 ms', backoff_max => '1 second');
		-- no unique key on msg_id: a message acked twice must be counted,
		-- not turned into an error
		CREATE TABLE processed (msg_id bigint NOT NULL, attempt integer NOT NULL,
								consumer text NOT NULL, p integer NOT NULL,
								n integer NOT NULL,
								done_at timestamptz NOT NULL DEFAULT clock_timestamp());
	};
}

sub new
{
	my ($class, %p) = @_;
	my $self = {
		connstr => $p{connstr},
		queue => $p{queue},
		max_attempts => $p{max_attempts} // 5,
		vt => $p{visibility_timeout} // 8,
		dir => $p{dir},
		producers => $p{producers} // 2,
		txn_consumers => $p{txn_consumers} // 1,
		lease_consumers => $p{lease_consumers} // 1,
		pids => {},
	};
	mkdir $self->{dir};
	unlink glob("$self->{dir}/*");
	return bless $self, $class;
}

sub start
{
	my ($self) = @_;

	$self->_spawn("p$_", \&_producer) for 1 .. $self->{producers};
	$self->_spawn("t$_", \&_txn_consumer) for 1 .. $self->{txn_consumers};
	$self->_spawn("l$_", \&_lease_consumer) for 1 .. $self->{lease_consumers};
	return;
}

sub _spawn
{
	my ($self, $name, $body) = @_;
	my $pid = fork();

	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		my $ok = eval {
			srand($$ ^ int(Time::HiRes::time() * 1000));
			$self->{client} = $name;
			open my $log, '>>', "$self->{dir}/$name.log" or die "$name.log: $!";
			$log->autoflush(1);
			$body->($self, $name, $log);
			1;
		};
		print STDERR "client $name failed: $@" unless $ok;

		# Leave without running the test script's END blocks, which would
		# stop the servers and report on the test plan.
		POSIX::_exit($ok ? 0 : 1);
	}
	$self->{pids}{$pid} = $name;
	return;
}

sub _stopped
{
	my ($self, $what) = @_;
	return -e "$self->{dir}/stop-$what";
}

sub _touch
{
	my ($self, $what) = @_;
	open my $fh, '>', "$self->{dir}/stop-$what" or die "stop-$what: $!";
	close $fh;
	return;
}

sub stop_producers
{
	my ($self) = @_;
	$self->_touch('producers');
	$self->_wait_clients(qr/^p/);
	return;
}

sub stop_consumers
{
	my ($self) = @_;
	$self->_touch('consumers');
	$self->_wait_clients(qr/^[tl]/);
	return;
}

# Wait for the clients whose names match; each finishes the transaction it is
# in (psql itself times out after 60 seconds).
sub _wait_clients
{
	my ($self, $re) = @_;
	my $deadline = Time::HiRes::time() + 180;

	for my $pid (grep { $self->{pids}{$_} =~ $re } keys %{ $self->{pids} })
	{
		while (waitpid($pid, POSIX::WNOHANG()) == 0)
		{
			if (Time::HiRes::time() > $deadline)
			{
				kill 'KILL', $pid;
				waitpid($pid, 0);
				die "client $self->{pids}{$pid} did not stop";
			}
			Time::HiRes::sleep(0.05);
		}
		die "client $self->{pids}{$pid} failed" if $? != 0;
		delete $self->{pids}{$pid};
	}
	return;
}

# Kill whatever clients are left (when a test dies half-way).
sub DESTROY
{
	my ($self) = @_;
	for my $pid (keys %{ $self->{pids} })
	{
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
	return;
}

# Run a script in one psql; returns (exited 0, stdout).
sub _psql
{
	my ($self, $script) = @_;
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run(
			[
				'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
				'-d', $self->{connstr}, '-f', '-'
			],
			'<', \$script, '>', \$out, '2>', \$err,
			IPC::Run::timeout(60));
	};
	if (!$ok && open my $fh, '>>', "$self->{dir}/errors")
	{
		# the checker counts them: only losing the server may fail a call
		print $fh "$self->{client}: ", ($@ || $err), "\n";
		close $fh;
	}
	return ($ok ? 1 : 0, $out);
}

sub _now { return sprintf('%.3f', Time::HiRes::time()); }

sub _producer
{
	my ($self, $name, $log) = @_;
	my $q = $self->{queue};
	my $p = substr($name, 1);
	my $n = 0;

	until ($self->_stopped('producers'))
	{
		my $k = 1 + int(rand(4));
		my @ns = map { ++$n . (rand() < 0.03 ? 'x' : '') } 1 .. $k;
		my @bodies = map {
			my ($num, $x) = /^(\d+)(x?)$/;
			qq({"p": $p, "n": $num) . ($x ? ', "poison": true' : '') . '}'
		} @ns;
		my $delay = rand() < 0.1 ? '2 seconds' : '0';
		my $end = rand() < 0.05 ? 'ROLLBACK' : 'COMMIT';
		my $call =
		  $k == 1
		  ? "SELECT mq_send('$q', '$bodies[0]', delay => '$delay');"
		  : "SELECT mq_send_batch('$q', ARRAY['"
		  . join("', '", @bodies)
		  . "']::jsonb[], delay => '$delay');";

		my ($ok, $out) = $self->_psql("BEGIN;\n$call\n$end;\n");
		my @ids = $out =~ /^(\d+)$/mg;
		my $tag = !$ok ? 'U' : $end eq 'COMMIT' ? 'S' : 'R';

		# a transaction that succeeded returned one id a message
		$tag = 'X' if $ok && @ids != $k;
		print $log join(' ', $tag, _now(), $p, join(',', @ids) || '-',
			join(',', @ns)), "\n";
		Time::HiRes::sleep(0.05) unless $ok;
	}
	return;
}

# Read up to qty messages: one row of arrays ids, atts, ps, ns and ops (in
# msg_id order), printed or, with gset, stored in psql variables of those
# names.  A poison message is always nacked; a message whose number ends in
# 3 is nacked on its first attempt.
sub _read_sql
{
	my ($q, $qty, $gset) = @_;
	my $end = $gset ? "\\gset" : ';';
	return qq{SELECT coalesce(array_agg(msg_id ORDER BY msg_id), '{}') AS ids,
  coalesce(array_agg(attempt ORDER BY msg_id), '{}') AS atts,
  coalesce(array_agg((body->>'p')::int ORDER BY msg_id), '{}') AS ps,
  coalesce(array_agg((body->>'n')::int ORDER BY msg_id), '{}') AS ns,
  coalesce(array_agg(CASE WHEN body ? 'poison'
						   OR ((body->>'n')::int % 10 = 3 AND attempt = 1)
					  THEN 'nack' ELSE 'ack' END ORDER BY msg_id), '{}') AS ops
FROM mq_read('$q', $qty) $end
};
}

# Ack or nack (fenced by attempt) what the variables of _read_sql hold; an
# ack that succeeds writes the message into "processed" in the same
# statement.  Prints op|msg_id|attempt|ok.
sub _finish_sql
{
	my ($q, $consumer) = @_;
	return qq{WITH m AS (SELECT * FROM unnest(:'ids'::bigint[], :'atts'::int[],
  :'ps'::int[], :'ns'::int[], :'ops'::text[]) AS m(msg_id, attempt, p, n, op)),
r AS MATERIALIZED (SELECT m.*, CASE op
	WHEN 'ack' THEN mq_ack('$q', msg_id, attempt => attempt)
	ELSE mq_nack('$q', msg_id, error => 'rejected', attempt => attempt) END AS ok
  FROM m),
w AS (INSERT INTO processed (msg_id, attempt, consumer, p, n)
	  SELECT msg_id, attempt, '$consumer', p, n FROM r WHERE op = 'ack' AND ok)
SELECT op, msg_id, attempt, ok FROM r ORDER BY msg_id;
};
}

sub _txn_consumer
{
	my ($self, $name, $log) = @_;
	my $q = $self->{queue};

	until ($self->_stopped('consumers'))
	{
		my ($ok, $out) = $self->_psql(
			"BEGIN;\n" . _read_sql($q, 4, 1) . _finish_sql($q, $name) . "COMMIT;\n");
		my @rows = grep { /\|/ } split /\n/, $out;

		if ($ok)
		{
			print $log join(' ', 'T', _now(), split(/\|/, $_)), "\n" for @rows;
		}
		Time::HiRes::sleep(0.05) if !$ok || !@rows;
	}
	return;
}

sub _lease_consumer
{
	my ($self, $name, $log) = @_;
	my $q = $self->{queue};

	until ($self->_stopped('consumers'))
	{
		# the read commits on its own: the lease is held from here on
		my $started = _now();
		my ($ok, $out) = $self->_psql(_read_sql($q, 3, 0));
		my ($line) = grep { /\|/ } split /\n/, $out;
		my @v = defined $line ? split(/\|/, $line) : ();
		my @ids = @v ? $v[0] =~ /(\d+)/g : ();
		my @atts = @v ? $v[1] =~ /(\d+)/g : ();

		if (!@ids)
		{
			Time::HiRes::sleep(0.05);
			next;
		}
		print $log join(' ', $ok ? 'D' : 'd', _now(), $ids[$_], $atts[$_],
			$started), "\n"
		  for 0 .. $#ids;
		next unless $ok;

		Time::HiRes::sleep(rand(0.02));    # the work

		my $set = '';
		my @names = qw(ids atts ps ns ops);
		$set .= "\\set $names[$_] '$v[$_]'\n" for 0 .. 4;
		($ok, $out) =
		  $self->_psql("$set BEGIN;\n" . _finish_sql($q, $name) . "COMMIT;\n");
		if ($ok)
		{
			print $log join(' ', 'L', _now(), split(/\|/, $_)), "\n"
			  for grep { /\|/ } split /\n/, $out;
		}
		else
		{
			print $log join(' ', 'F', _now(), $ids[$_], $atts[$_]), "\n"
			  for 0 .. $#ids;
			Time::HiRes::sleep(0.05);
		}
	}
	return;
}

# Read every client log: a list of [client, fields...].
sub _records
{
	my ($self) = @_;
	my @recs;
	for my $file (sort glob("$self->{dir}/*.log"))
	{
		my ($client) = $file =~ m{([^/]+)\.log$};
		open my $fh, '<', $file or die "$file: $!";
		while (my $l = <$fh>)
		{
			chomp $l;
			# a client killed mid-line leaves a partial line; clients are
			# not killed before the checker runs, so this does not happen
			push @recs, [ $client, split / /, $l ];
		}
		close $fh;
	}
	return @recs;
}

# Progress so far: committed sends and committed acks, optionally only those
# recorded after a given time.
# Wait until the clients have committed at least $sends sends and $acks
# acks since $since (0: since the start); false if the test's default
# timeout passes first.
sub wait_for_progress
{
	my ($self, $since, $sends, $acks) = @_;
	my $deadline = Time::HiRes::time() + $PostgreSQL::Test::Utils::timeout_default;
	while (Time::HiRes::time() < $deadline)
	{
		my ($s, $a) = $self->progress($since);
		return 1 if $s >= $sends && $a >= $acks;
		Time::HiRes::sleep(0.2);
	}
	return 0;
}

sub progress
{
	my ($self, $since) = @_;
	my ($sent, $acked) = (0, 0);
	$since //= 0;
	for my $r ($self->_records)
	{
		my ($client, $tag, $t, @f) = @$r;
		next if $t < $since;
		if ($tag eq 'S')
		{
			my @ids = split /,/, $f[1];
			$sent += @ids;
		}
		elsif (($tag eq 'T' || $tag eq 'L') && $f[0] eq 'ack' && $f[3] eq 't')
		{
			$acked++;
		}
	}
	return ($sent, $acked);
}

=pod

=item $load->reconcile($node, $dbname)

Compare the client logs with the queue's live table, its dead letters and
"processed".  Returns a hash of counts; the keys that must be zero are
listed in @MqLoad::MUST_BE_ZERO.

=cut

our @MUST_BE_ZERO = qw(lost undone_acks double_acks rolled_back_found phantoms
  id_reused in_two_places bad_bodies delivered_after_ack same_attempt_twice
  over_max_attempts failed_txn_acks fenced_within_lease client_anomalies
  sql_errors);

sub reconcile
{
	my ($self, $node, $dbname) = @_;
	my $q = $self->{queue};
	my $max = $self->{max_attempts};
	my %c = map { $_ => 0 } @MUST_BE_ZERO,
	  qw(sent sent_in_doubt in_doubt_committed rolled_back send_failed acked dead queued
	  deliveries redelivered_after_nack duplicates dup_cut_by_crash
	  dup_lease_expired failed_calls);

	# What the clients learnt.  Messages are known by their body (producer
	# p, number n): a msg_id handed to a transaction that did not commit may
	# be handed out again after a crash (sequences are not rolled back, and
	# a crash loses what was not yet flushed), so an id alone does not name
	# one message.
	my %msg;
	my (%delivery, %outcome, %read_started, %finished);
	for my $r ($self->_records)
	{
		my ($client, $tag, $t, @f) = @$r;
		if ($tag eq 'S' || $tag eq 'R' || $tag eq 'U' || $tag eq 'X')
		{
			my ($p, $ids, $ns) = @f;
			$c{client_anomalies}++ if $tag eq 'X';
			my %idset = map { ($_ => 1) } grep { $_ ne '-' } split /,/, $ids;

			# no id returned: the send never completed, so it cannot
			# have committed
			$tag = 'N' if $tag eq 'U' && !%idset;
			for my $num (split /,/, $ns)
			{
				$num =~ s/x$//;
				$msg{"$p:$num"} = { tag => $tag, ids => \%idset };
			}
		}
		elsif ($tag eq 'T')
		{
			my ($op, $id, $att, $ok) = @f;
			push @{ $delivery{$id}{$att} }, $client;
			$outcome{$id}{$att} = "$op-$ok";
			# inside the transaction that holds the lease the ack cannot fail
			$c{failed_txn_acks}++ if $ok ne 't';
		}
		elsif ($tag eq 'D')
		{
			my ($id, $att, $started) = @f;
			push @{ $delivery{$id}{$att} }, $client;
			$read_started{$id}{$att} = $started;
		}
		elsif ($tag eq 'd')
		{
			# a read that may have committed: if it did, its lease was
			# cut, and the next delivery counts as cut by the crash
		}
		elsif ($tag eq 'L')
		{
			my ($op, $id, $att, $ok) = @f;
			$outcome{$id}{$att} = "$op-$ok";
			$finished{$id}{$att} = $t;
		}
		elsif ($tag eq 'F')
		{
			$outcome{ $f[0] }{ $f[1] } //= 'unknown';
		}
		else
		{
			$c{client_anomalies}++;
		}
	}

	# What the database holds.
	my $rows = $node->safe_psql(
		$dbname, qq{
		SELECT 'q', msg_id, attempt,
			   CASE WHEN visible_at > now() THEN
					CASE WHEN lease_expires_at IS NULL THEN 'delayed' ELSE 'in_flight' END
					WHEN attempt < $max THEN 'ready' ELSE 'exhausted' END,
			   body->>'p', body->>'n'
		  FROM mq."q_$q"
		UNION ALL
		SELECT 'd', msg_id, attempt, reason, body->>'p', body->>'n' FROM mq."d_$q"
		UNION ALL
		SELECT 'a', msg_id, attempt, consumer, p::text, n::text FROM processed});
	my (%where, %found, %acked_att, %queued_by, %dead_by);
	for my $line (split /\n/, $rows)
	{
		my ($kind, $id, $att, $what, $p, $n) = split /\|/, $line;
		my $key = "$p:$n";
		my $m = $msg{$key};

		push @{ $where{$id} }, [ $kind, $key ];
		$found{$key}++;
		if ($kind eq 'q') { $c{queued}++; $queued_by{$what}++; }
		if ($kind eq 'd') { $c{dead}++; $dead_by{$what}++; }
		if ($kind eq 'a') { $acked_att{$id}{$att} = 1; }

		if (!$m)
		{
			$c{phantoms}++;
		}
		elsif (!$m->{ids}{$id})
		{
			$c{bad_bodies}++;
		}
		elsif ($m->{tag} eq 'R')
		{
			$c{rolled_back_found}++;
		}
		elsif ($m->{tag} eq 'N')
		{
			$c{phantoms}++;
		}
	}

	for my $key (keys %msg)
	{
		my $tag = $msg{$key}{tag};
		if ($tag eq 'S')
		{
			$c{sent}++;
			$c{lost}++ unless $found{$key};
		}
		elsif ($tag eq 'R')
		{
			$c{rolled_back}++;
		}
		elsif ($tag eq 'N')
		{
			$c{send_failed}++;
		}
		else
		{
			$c{sent_in_doubt}++;
			$c{in_doubt_committed}++ if $found{$key};
		}
	}
	$c{acked} = scalar keys %acked_att;
	for my $id (keys %where)
	{
		my @w = @{ $where{$id} };
		my $a = grep { $_->[0] eq 'a' } @w;
		my %bodies = map { ($_->[1] => 1) } @w;
		$c{id_reused}++ if keys %bodies > 1;
		$c{double_acks}++ if $a > 1;
		$c{undone_acks}++ if $a && @w > $a;
		$c{in_two_places}++ if !$a && @w > 1;
	}

	# Acks that the clients saw commit must be in "processed".
	for my $id (keys %outcome)
	{
		for my $att (keys %{ $outcome{$id} })
		{
			$c{undone_acks}++
			  if $outcome{$id}{$att} eq 'ack-t' && !$acked_att{$id}{$att};
		}
	}

	# Deliveries.  A delivery on attempt k > 1 follows the lease of attempt
	# k - 1; what became of that lease says whether this is a retry (nack),
	# a duplicate, or a violation (an ack that committed).
	for my $id (keys %delivery)
	{
		for my $att (keys %{ $delivery{$id} })
		{
			my $n = scalar @{ $delivery{$id}{$att} };
			$c{deliveries} += $n;
			$c{same_attempt_twice} += $n - 1;
			$c{over_max_attempts} += $n if $att > $max;
			next if $att == 1;

			my $prev = $outcome{$id}{ $att - 1 };
			if (defined $prev && $prev eq 'nack-t')
			{
				$c{redelivered_after_nack}++;
				next;
			}
			$c{duplicates}++;
			if (defined $prev && $prev eq 'ack-t')
			{
				$c{delivered_after_ack}++;
			}
			elsif (defined $prev && $prev =~ /-f$/)
			{
				# The fenced ack or nack found the lease gone.  That is right
				# only if the lease had run out: the lease began after the
				# read started and the ack ran before its psql returned.
				$c{dup_lease_expired}++;
				my $held = ($finished{$id}{ $att - 1 } // 0) -
				  ($read_started{$id}{ $att - 1 } // 0);
				$c{fenced_within_lease}++ if $held < $self->{vt};
			}
			else
			{
				# the consumer holding attempt k - 1 never learnt what became
				# of its ack (or of its read): the crash cut that lease
				$c{dup_cut_by_crash}++;
			}
		}
	}

	# Errors the clients met: losing the server is expected, anything else
	# (an error from mq) is not.
	if (open my $fh, '<', "$self->{dir}/errors")
	{
		while (my $l = <$fh>)
		{
			$c{sql_errors}++ if $l =~ /\bERROR:/;
			$c{failed_calls}++ if $l =~ /^[tlp]\d+: /;
		}
		close $fh;
	}

	$c{queued_by} = join(', ', map { "$_ $queued_by{$_}" } sort keys %queued_by) || 'none';
	$c{dead_by} = join(', ', map { "$_ $dead_by{$_}" } sort keys %dead_by) || 'none';
	return \%c;
}

# One line of figures for the test output.
sub summary
{
	my ($c) = @_;
	return join("\n",
		"committed sends $c->{sent} (plus $c->{sent_in_doubt} in doubt, of which "
		  . "$c->{in_doubt_committed} committed; $c->{rolled_back} rolled back; "
		  . "$c->{send_failed} failed before returning an id)",
		"acked $c->{acked}, still queued $c->{queued} ($c->{queued_by}), "
		  . "dead $c->{dead} ($c->{dead_by})",
		"lost $c->{lost}, undone acks $c->{undone_acks}, "
		  . "acked twice $c->{double_acks}",
		"deliveries $c->{deliveries}, retries after nack "
		  . "$c->{redelivered_after_nack}, duplicates $c->{duplicates} "
		  . "(lease cut by a crash $c->{dup_cut_by_crash}, lease expired "
		  . "$c->{dup_lease_expired}, after a committed ack "
		  . "$c->{delivered_after_ack})",
		"client calls that failed $c->{failed_calls} "
		  . "(SQL errors among them $c->{sql_errors})");
}

1;
