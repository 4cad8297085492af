#!/usr/bin/perl
#
# bench.pl: every scenario of the benchmark, against mq, the plain-SQL
# reference queue (ref.sql, scripts/ref_*.sql) and PgQ where the work is
# comparable, on the server the environment points at (PGHOST, PGPORT,
# PGDATABASE, PGUSER).  bench/run.sh starts that server and calls this; run
# by hand it needs a database where CREATE EXTENSION mq (and pgq) works.
#
# Every figure is messages per second.  The systems take turns within each
# round (the order alternates from round to round) and a figure is the
# median of the rounds; a ratio is the median of the per-round ratios, so
# that a noisy machine slows both sides of a ratio alike.
#
# Environment: MODE (short or full), PGBIN (directory of psql and pgbench),
# BENCH_OUT (directory for the results; bench/results by default).
#
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);

my $dir = dirname(abs_path($0));
my $mode = $ENV{MODE} // 'short';
my $bin = $ENV{PGBIN} ? "$ENV{PGBIN}/" : '';
my $out = $ENV{BENCH_OUT} // "$dir/results";
make_path($out);

# What each mode runs.  secs: length of one measured run; rounds: runs of
# each system per figure; syncs: the synchronous_commit settings of the
# core scenarios (sends, consumption); other_syncs: those of the others
# (dead rows, held snapshot, delayed messages, 16 consumers, backlog).
my %modes = (
	short => {
		secs => 2, rounds => 2, syncs => ['on', 'off'], other_syncs => ['off'],
	},
	full => {
		secs => 5, rounds => 3, syncs => ['on', 'off'], other_syncs => ['on', 'off'],
	},
);
my $cfg = $modes{$mode} or die "MODE must be short or full, not \"$mode\"\n";
my $secs = $ENV{BENCH_SECS} // $cfg->{secs};
my $rounds = $ENV{BENCH_ROUNDS} // $cfg->{rounds};
my $dead_rows = 500_000;
my $delayed_rows = 100_000;
my @backlogs = (1, 100_000, 1_000_000);

my $t0 = time;
my $body = '{"order_id": 1234, "customer": "c-42", "amount": 99.5}';
my $bodies = '{' . join(',', map {
	my $b = $body;
	$b =~ s/1234/$_/;
	$b =~ s/"/\\"/g;
	"\"$b\""
} 1 .. 100) . '}';

# Each system has three queues ("slots"), so that a scenario can compare two
# states of a queue within one round: mq queues bench, bench2 and bench3,
# reference tables ref.q, ref2.q and ref3.q.  The scripts name them through
# the variable :q (mq) and search_path (reference).
sub queue_name { my ($slot) = @_; return 'bench' . ($slot > 1 ? $slot : ''); }
sub ref_schema { my ($slot) = @_; return 'ref' . ($slot > 1 ? $slot : ''); }

# the table holding a queue's messages (the harness reads and truncates it
# directly, outside the measured runs)
sub table_of
{
	my ($sys, $slot) = @_;
	return $sys eq 'mq' ? 'mq.q_' . queue_name($slot) : ref_schema($slot) . '.q';
}

my @raw;		# every run: [scenario, sync, system, round, msgs/s]
my %res;		# $res{scenario}{sync}{system} = [msgs/s per round]
my %note;		# $note{scenario}{sync} = text
my $have_pgq;

sub say_progress
{
	printf STDERR "[%4ds] %s\n", time - $t0, join('', @_);
}

# Run a command; returns its exit status and its stdout and stderr together.
sub capture
{
	my @cmd = @_;
	my $pid = open(my $fh, '-|') // die "fork: $!";
	if ($pid == 0)
	{
		open(STDERR, '>&', \*STDOUT) or die "dup: $!";
		exec(@cmd) or die "exec $cmd[0]: $!";
	}
	local $/;
	my $output = <$fh> // '';
	close $fh;
	return ($? >> 8, $output);
}

# Run SQL statements, each in its own transaction, in one session; returns
# the output, unaligned and without headers.
sub sql
{
	my @cmds = map { ('-c', $_) } @_;
	local $ENV{PGOPTIONS} = '-c synchronous_commit=off -c client_min_messages=warning';
	my ($rc, $output) = capture("${bin}psql", '-X', '-q', '-A', '-t',
								'-v', 'ON_ERROR_STOP=1', @cmds);
	die "psql failed: $output\n" if $rc != 0;
	chomp $output;
	return $output;
}

# ... with search_path set to a slot's reference schema
sub sql_ref
{
	my ($slot, @cmds) = @_;
	return sql('SET search_path = ' . ref_schema($slot) . ', public', @cmds);
}

# One pgbench run of scripts/<system>_<script>.sql against a slot.  Returns
# a hash: ntx (scripts completed), secs (their time, without connecting),
# tps; dry is set when a consumer found the queue empty.
sub pgbench
{
	my (%o) = @_;
	return pgbench_wait(pgbench_start(%o));
}

# pgbench_start starts such a run in the background; pgbench_wait waits for
# it and returns what pgbench returns (so that two runs can share the time).
sub pgbench_start
{
	my (%o) = @_;
	my $clients = $o{clients} // 2;
	my $slot = $o{slot} // 1;
	my @cmd = ("${bin}pgbench", '-n', '-M', 'prepared', '-c', $clients,
			   '-j', $clients < 2 ? $clients : 2,
			   '-f', "$dir/scripts/$o{sys}_$o{script}.sql",
			   '-D', 'q=' . queue_name($slot),
			   '-D', "body=$body", '-D', "bodies=$bodies");
	push @cmd, map { ('-D', "$_=$o{vars}{$_}") } sort keys %{$o{vars} // {}};
	push @cmd, $o{txns} ? ('-t', $o{txns}) : ('-T', $o{secs} // $secs);
	local $ENV{PGOPTIONS} = "-c synchronous_commit=$o{sync}"
		. ($o{sys} eq 'ref' ? ' -c search_path=' . ref_schema($slot) . ',public' : '');
	my $pid = open(my $fh, '-|') // die "fork: $!";
	if ($pid == 0)
	{
		open(STDERR, '>&', \*STDOUT) or die "dup: $!";
		exec(@cmd) or die "exec $cmd[0]: $!";
	}
	return {fh => $fh, what => "$o{sys}_$o{script}"};
}

sub pgbench_wait
{
	my ($run) = @_;
	my $output = do { local $/; readline($run->{fh}) } // '';
	close $run->{fh};
	my $rc = $? >> 8;
	my %r;
	# a consumer that found nothing: mq (no row to \gset), PgQ (no batch)
	$r{dry} = 1 if $output =~ /expected one row, got 0|malformed array literal|invalid input syntax for type bigint: ""/;
	die "pgbench $run->{what} failed:\n$output\n" if $rc != 0 && !$r{dry};
	($r{ntx}) = $output =~ /number of transactions actually processed: (\d+)/;
	($r{tps}) = $output =~ /tps = ([\d.]+) \(without initial connection time\)/;
	$r{dry} = 1 if !$r{tps};
	$r{secs} = $r{tps} ? $r{ntx} / $r{tps} : 0;
	return \%r;
}

sub median
{
	my @v = sort { $a <=> $b } grep { defined } @_;
	return undef unless @v;
	return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub count_rows
{
	my ($sys, $slot, $where) = @_;
	return sql('SELECT count(*) FROM ' . table_of($sys, $slot) . ($where ? " WHERE $where" : ''));
}

# Send n messages, through the queue's own statements.
sub fill
{
	my ($sys, $slot, $n, $delay) = @_;
	$delay //= '0';
	# in pieces, so that no one transaction holds back vacuum for long
	while ($n > 0)
	{
		my $k = $n < 200_000 ? $n : 200_000;
		if ($sys eq 'mq')
		{
			sql("SELECT bench.fill_mq('" . queue_name($slot) . "', $k, '$delay')");
		}
		else
		{
			sql_ref($slot, "SELECT bench.fill_ref($k, '$delay')");
		}
		$n -= $k;
	}
}

# Send and then consume n messages, which leaves dead rows behind.
sub churn
{
	my ($sys, $slot, $n) = @_;
	fill($sys, $slot, $n);
	# the reads and acks in transactions of 10000, like a consumer
	my @drains = ($sys eq 'mq'
				  ? "SELECT bench.drain_mq('" . queue_name($slot) . "', 10000)"
				  : 'SELECT bench.drain_ref(10000)') x int(($n + 9999) / 10000);
	$sys eq 'mq' ? sql(@drains) : sql_ref($slot, @drains);
}

# Bring a queue to n ready messages (sending what is missing), then vacuum
# it (unless told not to) and checkpoint, so that each run starts clean.
sub prepare_queue
{
	my ($sys, $slot, $n, %o) = @_;
	my $have = count_rows($sys, $slot, 'visible_at <= now()');
	fill($sys, $slot, $n - $have) if $have < $n;
	sql('VACUUM (ANALYZE) ' . table_of($sys, $slot)) unless $o{novacuum};
	sql('CHECKPOINT');
}

sub reset_queue
{
	my ($sys, $slot) = @_;
	if ($sys eq 'pgq')
	{
		sql("SELECT pgq.drop_queue('bench', true)")
			if sql("SELECT count(*) FROM pgq.queue WHERE queue_name = 'bench'");
		# a tick after every fill script's 100 events (scripts/pgq_fill100.sql)
		sql("SELECT pgq.create_queue('bench')",
			"SELECT pgq.set_queue_config('bench', 'ticker_max_count', '1')",
			"SELECT pgq.register_consumer('bench', 'bench')");
	}
	else
	{
		sql('TRUNCATE ' . table_of($sys, $slot));
	}
}

sub record
{
	my ($scen, $sync, $sys, $round, $rate) = @_;
	push @{$res{$scen}{$sync}{$sys}}, $rate;
	push @raw, [$scen, $sync, $sys, $round, $rate];
	say_progress(sprintf("%-14s sync=%-3s %-3s round %d: %9.0f msg/s",
						 $scen, $sync, $sys, $round, $rate // 0));
}

# The systems of a round, in an order that alternates between rounds.
sub turns
{
	my ($round, @sys) = @_;
	return $round % 2 ? reverse(@sys) : @sys;
}

# Messages to prefill for a consume run: twice what the last such run took.
sub guess
{
	my ($scen, $sync, $sys) = @_;
	my $last = $res{$scen}{$sync}{$sys} ? $res{$scen}{$sync}{$sys}[-1] : undef;
	$last //= $res{consume1}{$sync}{$sys}[-1] if $scen ne 'consume100';
	$last //= $scen eq 'consume100' ? 60_000 : 8_000;
	my $n = int($last * $secs * 2) + 1000;
	return $n < 20_000 ? 20_000 : $n;
}

# A consume run: the queue holds enough ready messages first; the rate
# counts the messages that left the queue.  A run that empties the queue
# is repeated with twice the messages.  With check, every script's ack is
# checked: a failed ack (logged by the script in bench.dup) or a message
# that left the queue unaccounted for is a duplicate delivery.
sub consume_run
{
	my (%o) = @_;
	my ($sys, $slot) = ($o{sys}, $o{slot} // 1);
	my $n = $o{n};
	for (my $try = 0;; $try++)
	{
		prepare_queue($sys, $slot, $n, %o) unless $o{noprepare};
		$o{before_run}->() if $o{before_run};
		my $before = count_rows($sys, $slot);
		my $dups = sql('SELECT count(*) FROM bench.dup');
		my $r = pgbench(%o);
		$o{after_run}->() if $o{after_run};
		my $gone = $before - count_rows($sys, $slot);
		if ($r->{dry})
		{
			die "the queue ran dry twice in $o{script}\n" if $try >= 2 || $o{noprepare};
			$n *= 2;
			say_progress("$sys $o{script}: queue ran dry, again with $n messages");
			next;
		}
		if ($o{check})
		{
			$o{check}->{dups} += sql('SELECT count(*) FROM bench.dup') - $dups;
			$o{check}->{mismatch} += abs($gone - $r->{ntx});
			$o{check}->{acked} += $gone;
		}
		return $gone / $r->{secs};
	}
}

sub check_note
{
	my ($c) = @_;
	return '' unless defined $c->{acked};
	return sprintf("%d acked, %s", $c->{acked},
				   ($c->{dups} || $c->{mismatch})
				   ? "DUPLICATES: $c->{dups} failed acks, $c->{mismatch} unaccounted"
				   : 'no duplicates');
}

# Sends: each run starts from an empty queue.  The single send's rounds
# also run its ceiling (scripts/commit_send1.sql, see ceiling_note).
sub scen_send
{
	my ($scen, $per, $sync) = @_;
	my @sys = ('mq', 'ref', $have_pgq ? 'pgq' : (), $scen eq 'send1' ? 'commit' : ());
	for my $round (1 .. $rounds)
	{
		for my $sys (turns($round, @sys))
		{
			reset_queue($sys, 1) unless $sys eq 'commit';
			sql('CHECKPOINT');
			my $r = pgbench(sys => $sys, script => $scen, sync => $sync);
			die "pgbench ${sys}_$scen stopped early\n" if $r->{dry};
			record($scen, $sync, $sys, $round, $r->{tps} * $per);
		}
	}
	reset_queue($_, 1) for grep { $_ ne 'commit' } @sys;
}

# PgQ batch consumption: one consumer (PgQ hands a consumer's batches out
# one at a time), k batches of 100 events prepared beforehand.
sub pgq_consume_run
{
	my ($sync) = @_;
	my $last = $res{consume100}{$sync}{pgq} ? $res{consume100}{$sync}{pgq}[-1] : 40_000;
	my $k = int($last * $secs / 100) + 50;
	reset_queue('pgq');
	my ($rc, $output) = capture("${bin}pgbench", '-n', '-M', 'prepared', '-c', 1,
								'-t', $k, '-f', "$dir/scripts/pgq_fill100.sql",
								'-D', "bodies=$bodies");
	die "pgq fill failed: $output\n" if $rc != 0;
	my $ticks = sql("SELECT count(*) FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue"
					. " WHERE q.queue_name = 'bench'");
	die "pgq fill made $ticks ticks for $k batches\n" if $ticks < $k + 1;
	sql('CHECKPOINT');
	my $r = pgbench(sys => 'pgq', script => 'consume100', sync => $sync,
					clients => 1, txns => $k);
	die "pgq consume failed\n" if $r->{dry};
	my $left = sql("SELECT coalesce(pending_events, 0) FROM pgq.get_consumer_info('bench', 'bench')");
	die "pgq consumer left $left events\n" if $left > 0;
	return $r->{tps} * 100;
}

# Consumption in batches of 100.
sub scen_consume100
{
	my ($sync) = @_;
	my @sys = ('mq', 'ref', $have_pgq ? 'pgq' : ());
	for my $round (1 .. $rounds)
	{
		for my $sys (turns($round, @sys))
		{
			my $rate = $sys eq 'pgq'
				? pgq_consume_run($sync)
				: consume_run(sys => $sys, script => 'consume100', sync => $sync,
							  n => guess('consume100', $sync, $sys));
			record('consume100', $sync, $sys, $round, $rate);
		}
	}
}

# A snapshot held open by another session for a whole run: a REPEATABLE
# READ transaction that has run a SELECT and stays idle.
my $holder;
sub hold_snapshot
{
	local $ENV{PGAPPNAME} = 'mq_bench_snapshot';
	open($holder, '|-', "${bin}psql", '-X', '-q', '-o', '/dev/null') or die "psql: $!";
	$holder->autoflush(1);
	print $holder "BEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT count(*) FROM bench.dup;\n";
	for (my $i = 0;; $i++)
	{
		last if sql("SELECT count(*) FROM pg_stat_activity"
					. " WHERE application_name = 'mq_bench_snapshot'"
					. " AND state = 'idle in transaction' AND backend_xmin IS NOT NULL");
		die "the snapshot holder did not start\n" if $i > 100;
		sleep 0.1;
	}
}

sub release_snapshot
{
	print $holder "COMMIT;\n";
	close $holder;
}

# Read 1, then ack, with 2 clients, on a clean queue; and, when the sync
# setting is one of other_syncs, in the same rounds the states it is
# compared with: 500k dead rows at the head without vacuum (slot 2),
# a snapshot held open (slot 1), 100k delayed messages ahead (slot 3), and
# 16 consumers (slot 1).  Every mq run checks every ack.
sub scen_consume1
{
	my ($sync) = @_;
	my $others = grep { $_ eq $sync } @{$cfg->{other_syncs}};
	my %check;
	my %check16;
	for my $round (1 .. $rounds)
	{
		my @order = turns($round, 'mq', 'ref');
		for my $sys (turns($round, 'mq', 'ref', 'commit'))
		{
			my $rate = $sys eq 'commit'
				? pgbench(sys => 'commit', script => 'consume1', sync => $sync)->{tps}
				: consume_run(sys => $sys, script => 'consume1', sync => $sync,
							  n => guess('consume1', $sync, $sys),
							  $sys eq 'mq' ? (check => \%check) : ());
			record('consume1', $sync, $sys, $round, $rate);
		}
		next unless $others;
		for my $sys (@order)
		{
			record('dead', $sync, $sys, $round,
				   consume_run(sys => $sys, slot => 2, script => 'consume1', sync => $sync,
							   n => guess('consume1', $sync, $sys), novacuum => 1));
		}
		for my $sys (@order)
		{
			record('snapshot', $sync, $sys, $round,
				   consume_run(sys => $sys, script => 'consume1', sync => $sync,
							   n => guess('consume1', $sync, $sys),
							   before_run => \&hold_snapshot,
							   after_run => \&release_snapshot));
		}
		for my $sys (@order)
		{
			record('delayed', $sync, $sys, $round,
				   consume_run(sys => $sys, slot => 3, script => 'consume1', sync => $sync,
							   n => guess('consume1', $sync, $sys)));
		}
		for my $sys (@order)
		{
			record('c16', $sync, $sys, $round,
				   consume_run(sys => $sys, script => 'consume1', sync => $sync,
							   n => guess('c16', $sync, $sys), clients => 16,
							   $sys eq 'mq' ? (check => \%check16) : ()));
		}
	}
	$note{consume1}{$sync} = check_note(\%check);
	$note{c16}{$sync} = check_note(\%check16);
}

# The queues the consume1 rounds compare with: slot 2 with dead rows at
# its head and autovacuum off, slot 3 with delayed messages.
sub setup_states
{
	for my $sys ('mq', 'ref')
	{
		reset_queue($sys, 2);
		sql('ALTER TABLE ' . table_of($sys, 2) . ' SET (autovacuum_enabled = off)');
		say_progress("dead rows: $sys sends and consumes $dead_rows messages");
		churn($sys, 2, $dead_rows);
		reset_queue($sys, 3);
		fill($sys, 3, $delayed_rows, '1 hour');
	}
}

sub reset_states
{
	for my $sys ('mq', 'ref')
	{
		sql('ALTER TABLE ' . table_of($sys, 2) . ' RESET (autovacuum_enabled)');
		reset_queue($sys, $_) for 1 .. 3;
	}
}

# A steady state at fixed backlogs (slots 1 to 3): one client sends a
# message, reads the oldest and acks it, so that each queue stays at its
# size; the rate is per message.  One client, so that the figure is the
# cost of a message and not the contention of clients over the last one.
sub scen_backlog
{
	my @sys = ('mq', 'ref');
	for my $i (0 .. $#backlogs)
	{
		for my $sys (@sys)
		{
			reset_queue($sys, $i + 1);
			fill($sys, $i + 1, $backlogs[$i]);
		}
	}
	for my $sync (@{$cfg->{other_syncs}})
	{
		for my $round (1 .. $rounds)
		{
			for my $i (0 .. $#backlogs)
			{
				for my $sys (turns($round, @sys))
				{
					sql('VACUUM (ANALYZE) ' . table_of($sys, $i + 1), 'CHECKPOINT');
					my $r = pgbench(sys => $sys, slot => $i + 1, script => 'cycle',
									sync => $sync, clients => 1);
					die "${sys}_cycle stopped early\n" if $r->{dry};
					record("backlog$backlogs[$i]", $sync, $sys, $round, $r->{tps});
				}
			}
		}
	}
	for my $sys (@sys)
	{
		reset_queue($sys, $_) for 1 .. 3;
	}
}

# Send-commit to waiting-reader latency, measured by bench/latency when that
# program exists (or bench/latency.c, which is compiled).  It gets the
# server from the environment (PGHOST, PGPORT, PGDATABASE, PGUSER; the
# setting of synchronous_commit in PGOPTIONS), the length of a run in
# BENCH_SECS and an empty queue in BENCH_QUEUE, and prints lines such as
# "p50 0.41 ms" and "p99 1.9 ms".
sub scen_latency
{
	my $prog = "$dir/latency";
	if (!-x $prog && -f "$dir/latency.c")
	{
		my $pgc = $ENV{PG_CONFIG} // "${bin}pg_config";
		my $inc = (capture($pgc, '--includedir'))[1];
		my $lib = (capture($pgc, '--libdir'))[1];
		chomp($inc, $lib);
		$inc = '/usr/include/postgresql' unless -f "$inc/libpq-fe.h";
		$prog = "$out/latency";
		my ($rc, $output) = capture('cc', '-O2', "-I$inc", "$dir/latency.c",
									"-L$lib", '-lpq', '-o', $prog);
		if ($rc != 0)
		{
			$note{latency}{$_} = 'bench/latency.c did not compile' for @{$cfg->{syncs}};
			say_progress("latency: bench/latency.c did not compile:\n$output");
			return;
		}
	}
	return unless -x $prog;
	for my $sync (@{$cfg->{syncs}})
	{
		reset_queue('mq', 1);
		local $ENV{PGOPTIONS} = "-c synchronous_commit=$sync";
		local $ENV{BENCH_SECS} = $secs;
		local $ENV{BENCH_QUEUE} = queue_name(1);
		my ($rc, $output) = capture($prog);
		my ($p50) = $output =~ /p50\D*?([\d.]+)/;
		my ($p99) = $output =~ /p99\D*?([\d.]+)/;
		if ($rc != 0 || !defined $p99)
		{
			$note{latency}{$sync} = 'bench/latency failed';
			say_progress("latency: bench/latency failed:\n$output");
			next;
		}
		$res{latency}{$sync} = {p50 => $p50, p99 => $p99};
		say_progress("latency        sync=$sync p50 $p50 ms, p99 $p99 ms");
	}
	reset_queue('mq', 1);
}

sub setup
{
	my $pgq = sql("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgq'");
	sql('DROP EXTENSION IF EXISTS mq CASCADE', 'DROP SCHEMA IF EXISTS bench CASCADE',
		'DROP EXTENSION IF EXISTS pgq CASCADE',
		(map { 'DROP SCHEMA IF EXISTS ' . ref_schema($_) . ' CASCADE' } 1 .. 3),
		'CREATE EXTENSION mq',
		(map { "SELECT mq_create('" . queue_name($_) . "')" } 1 .. 3));
	for my $slot (1 .. 3)
	{
		my $schema = ref_schema($slot);
		local $ENV{PGOPTIONS} = "-c search_path=$schema";
		sql("CREATE SCHEMA $schema");
		my ($rc, $output) = capture("${bin}psql", '-X', '-q', '-v', 'ON_ERROR_STOP=1',
									'-f', "$dir/ref.sql");
		die "ref.sql failed: $output\n" if $rc != 0;
	}
	my ($rc, $output) = capture("${bin}psql", '-X', '-q', '-v', 'ON_ERROR_STOP=1',
								'-f', "$dir/setup.sql");
	die "setup.sql failed: $output\n" if $rc != 0;
	if ($pgq)
	{
		sql('CREATE EXTENSION pgq');
		reset_queue('pgq');
		$have_pgq = 1;
	}
	else
	{
		say_progress('PgQ is not installed (postgresql-15-pgq3): its columns stay empty');
	}
}

# Topics: a publish to a topic with 1,000 bindings of which one matches
# (one copy, into queue bench) against a single mq_send to bench; and one
# publish to a topic 10 queues are bound to against 10 mq_send in one
# transaction.  Rates count messages enqueued (copies).
sub setup_topics
{
	sql("SELECT mq_create_topic('bench_t')", "SELECT mq_create_topic('bench_f')",
		"SELECT mq_bind('bench', 'bench_t', 'orders.created.*')",
		# 999 bindings that do not match: exact words, "*" and "#"
		"SELECT count(mq_bind(CASE WHEN i % 2 = 0 THEN 'bench2' ELSE 'bench3' END, 'bench_t',
			(ARRAY['r' || i || '.#', '*.r' || i, 'r' || i || '.*.created'])[i % 3 + 1]))
		   FROM generate_series(1, 999) i",
		(map { ("SELECT mq_create('bench_f$_')", "SELECT mq_bind('bench_f$_', 'bench_f')") } 1 .. 10));
	my $n = sql("SELECT count(*) FROM mq_bindings WHERE topic = 'bench_t'");
	die "bench_t has $n bindings, not 1000\n" if $n != 1000;
}

sub topic_run
{
	my ($script, $per, $sync) = @_;
	sql('TRUNCATE mq.q_bench, ' . join(', ', map { "mq.q_bench_f$_" } 1 .. 10));
	sql('CHECKPOINT');
	my $r = pgbench(sys => 'mq', script => $script, sync => $sync);
	die "pgbench mq_$script stopped early\n" if $r->{dry};
	return $r->{tps} * $per;
}

sub scen_topics
{
	my ($sync) = @_;
	for my $round (1 .. $rounds)
	{
		for my $s (turns($round, 'publish1', 'send1'))
		{
			record('topic1000', $sync, $s eq 'publish1' ? 'mq' : 'ref', $round,
				   topic_run($s, 1, $sync));
		}
		for my $s (turns($round, 'fanout10', 'send10'))
		{
			record('fanout10', $sync, $s eq 'fanout10' ? 'mq' : 'ref', $round,
				   topic_run($s, 10, $sync));
		}
	}
	sql('TRUNCATE mq.q_bench, ' . join(', ', map { "mq.q_bench_f$_" } 1 .. 10));
}

# ---- streams (SPEC 12.5) ------------------------------------------------
#
# Streams against mq's own queues and PgQ.  Each comparison runs both sides
# at the same time, with the same number of clients, so that both share
# whatever else the machine does (taking turns on a shared machine gives
# per-round ratios far apart); a ratio is the median of the per-round ratios.
#   sappend1    2 clients, one mq_append a transaction, against 2 clients
#               each one mq_send a transaction
#   sappend100  the same with mq_append_batch and mq_send_batch of 100
#   sconsume    2 consumers of one group taking 1000 records a call from a
#               stream of 2 partitions, against 2 clients reading 100 and
#               acking them (mq_read, mq_ack); then against PgQ with batches
#               of 1000 events: 2 queues, one consumer each (a PgQ consumer
#               takes its batches one at a time), ticks made by pgq.ticker()
#               calls after every 1000 events (no pgqd)
#   sbig        2 clients, each a seek to a random msg_id and a consume of
#               1000, rolled back, in a stream of $stream_big records against
#               one of 10^4 (synchronous_commit off)
#   sretention  retention under load: 2 clients appending batches of 100 and
#               2 consuming 1000 a call, on a stream whose retention is 4 s,
#               for $retention_secs s, with the record tables' n_dead_tup,
#               size and oldest record sampled every second
#               (synchronous_commit off)

my $stream_big = $ENV{BENCH_STREAM_BIG} // ($mode eq 'full' ? 10_000_000 : 1_000_000);
my $stream_small = 10_000;
my $retention_secs = $mode eq 'full' ? 60 : 20;
my %stream_fill;		# records appended to each stream so far
my @retention_samples;	# [secs, record tables' bytes, oldest age, n_dead_tup, g_ bytes, g_ n_dead_tup]
my %retention;			# what the retention run found

sub reset_stream
{
	my ($s, $partitions, $retention) = @_;
	sql("SELECT mq_drop('$s')",
		"SELECT mq_create_stream('$s', partitions => $partitions, retention => "
		. ($retention // 'NULL') . ')');
	$stream_fill{$s} = 0;
}

# Append n records (a multiple of 1000) to a stream, keyed so that they
# spread over its partitions, in transactions of 100,000.
sub fill_stream
{
	my ($s, $n) = @_;
	$stream_fill{$s} += $n;
	while ($n > 0)
	{
		my $k = $n < 100_000 ? $n : 100_000;
		sql("SELECT count(*) FROM generate_series(1, $k / 1000) i, LATERAL mq_append_batch('$s',"
			. " array_fill('$body'::jsonb, ARRAY[1000]),"
			. " keys => (SELECT array_agg('k' || (j + i)) FROM generate_series(1, 1000) j))");
		$n -= $k;
	}
}

sub stream_lag
{
	my ($s, $group) = @_;
	return sql("SELECT coalesce(sum(lag), 0) FROM mq_groups('$s') WHERE group_name = '$group'");
}

# Make sure bench_s2 holds enough records for 2 consumers for a run at
# rate (records/s), and rewind group g to its start; returns its lag.
sub stream_prepare
{
	my ($rate) = @_;
	my $s = 'bench_s2';
	my $want = (int($rate * $secs * 1.6 / 100_000) + 1) * 100_000;
	if ($stream_fill{$s} < $want)
	{
		say_progress("stream consume: $want records");
		fill_stream($s, $want - $stream_fill{$s});
		sql("VACUUM ANALYZE mq.s_$s");
	}
	sql("SELECT mq_seek('$s', 'g', msg_id => 0)");
	return stream_lag($s, 'g');
}

# PgQ: two queues (sbench0, sbench1), one consumer each, k batches of 1000
# events each, a tick after every batch.
sub pgq_prepare
{
	my ($rate) = @_;
	my $k = int($rate * $secs * 2 / 2000) + 20;
	for my $q ('sbench0', 'sbench1')
	{
		sql("SELECT pgq.drop_queue('$q', true)")
			if sql("SELECT count(*) FROM pgq.queue WHERE queue_name = '$q'");
		sql("SELECT pgq.create_queue('$q')",
			"SELECT pgq.set_queue_config('$q', 'ticker_max_count', '1')",
			"SELECT pgq.register_consumer('$q', 'bench')");
	}
	my ($rc, $output) = capture("${bin}pgbench", '-n', '-M', 'prepared', '-c', 2, '-j', 2,
								'-t', $k, '-f', "$dir/scripts/pgq_fill1000.sql",
								'-D', "body=$body");
	die "pgq fill failed: $output\n" if $rc != 0;
	return pgq_pending();
}

sub pgq_pending
{
	my @p = split /\n/, sql("SELECT coalesce(pending_events, 0) FROM pgq.get_consumer_info()"
							. " WHERE queue_name IN ('sbench0', 'sbench1') ORDER BY queue_name");
	return \@p;
}

# One round of consumption, each pair of systems at the same time (so that
# both sides share whatever else the machine does): the stream (2 consumers
# of group g taking 1000 a call) against mq read 100 + ack (2 clients), then
# the stream against PgQ (2 queues of batches of 1000, a consumer each).
# Returns the rates; reruns a pair with more messages when a side ran dry.
sub stream_consume_round
{
	my ($sync, $round) = @_;
	my %last = map { $_ => ($res{sconsume}{$sync}{$_} ? $res{sconsume}{$sync}{$_}[-1] : undef) }
		qw(mq ref pgq);
	my $srate = $last{mq} // 800_000;
	my $qrate = $last{ref} // 60_000;
	my $prate = $last{pgq} // 400_000;
	my %rate;
	for (my $try = 0;; $try++)
	{
		die "stream or queue ran dry in every try\n" if $try > 4;
		my $lag = stream_prepare($srate);
		my $n = int($qrate * $secs * 2) + 1000;
		prepare_queue('mq', 1, $n < 20_000 ? 20_000 : $n);
		my $before = count_rows('mq', 1);
		sql('CHECKPOINT');
		my $a = pgbench_start(sys => 'mq', script => 'sconsume1000', sync => $sync,
							  vars => {s => 'bench_s2'});
		my $b = pgbench_start(sys => 'mq', script => 'consume100', sync => $sync);
		my ($ra, $rb) = (pgbench_wait($a), pgbench_wait($b));
		my $left = stream_lag('bench_s2', 'g');
		my $gone = $before - count_rows('mq', 1);
		my $dry = 0;
		if ($left < 2000) { $srate *= 2; $dry = 1; }
		if ($rb->{dry} || count_rows('mq', 1) < 1000) { $qrate *= 2; $dry = 1; }
		if ($dry)
		{
			say_progress('stream or queue ran dry: again with more');
			next;
		}
		$rate{mq} = ($lag - $left) / $ra->{secs};
		$rate{ref} = $gone / $rb->{secs};
		last;
	}
	return \%rate unless $have_pgq;
	for (my $try = 0;; $try++)
	{
		die "stream or PgQ ran dry in every try\n" if $try > 4;
		my $lag = stream_prepare($srate);
		my $pending = pgq_prepare($prate);
		sql('CHECKPOINT');
		my $a = pgbench_start(sys => 'mq', script => 'sconsume1000', sync => $sync,
							  vars => {s => 'bench_s2'});
		my $b = pgbench_start(sys => 'pgq', script => 'consume1000', sync => $sync);
		my ($ra, $rb) = (pgbench_wait($a), pgbench_wait($b));
		my $left = stream_lag('bench_s2', 'g');
		my $after = pgq_pending();
		my $dry = 0;
		if ($left < 2000) { $srate *= 2; $dry = 1; }
		if ($rb->{dry} || grep { $_ < 1000 } @$after) { $prate *= 2; $dry = 1; }
		if ($dry)
		{
			say_progress('stream or PgQ ran dry: again with more');
			next;
		}
		$rate{mq2} = ($lag - $left) / $ra->{secs};
		$rate{pgq} = ($pending->[0] + $pending->[1] - $after->[0] - $after->[1]) / $rb->{secs};
		last;
	}
	return \%rate;
}

sub scen_stream_core
{
	my ($sync) = @_;
	for my $round (1 .. $rounds)
	{
		# single appends against sends, then batches of 100, at the same time
		for my $case (['sappend1', 'append1', 'send1', 1], ['sappend100', 'append100', 'send100', 100])
		{
			my ($scen, $append, $send, $per) = @$case;
			reset_stream('bench_s1', 1);
			reset_queue('mq', 1);
			sql('CHECKPOINT');
			my $a = pgbench_start(sys => 'mq', script => $append, sync => $sync,
								  vars => {s => 'bench_s1'});
			my $b = pgbench_start(sys => 'mq', script => $send, sync => $sync);
			my ($ra, $rb) = (pgbench_wait($a), pgbench_wait($b));
			die "pgbench $scen stopped early\n" if $ra->{dry} || $rb->{dry};
			record($scen, $sync, 'mq', $round, $ra->{tps} * $per);
			record($scen, $sync, 'ref', $round, $rb->{tps} * $per);
		}
		my $r = stream_consume_round($sync, $round);
		record('sconsume', $sync, $_, $round, $r->{$_}) for grep { defined $r->{$_} } qw(mq ref mq2 pgq);
	}
	reset_queue('mq', 1);
	if ($have_pgq)
	{
		sql("SELECT pgq.drop_queue(q, true) FROM unnest(ARRAY['sbench0', 'sbench1']) q"
			. " WHERE q IN (SELECT queue_name FROM pgq.queue)");
	}
}

# Seek + consume 1000 in a stream of $stream_big records and in one of 10^4.
sub scen_stream_big
{
	my ($sync) = @_;
	my %range;
	for my $case (['bench_sbig', $stream_big], ['bench_ssmall', $stream_small])
	{
		my ($s, $n) = @$case;
		if (($stream_fill{$s} // 0) != $n)
		{
			reset_stream($s, 2);
			say_progress("stream of $n records: appending");
			fill_stream($s, $n);
			sql("VACUUM ANALYZE mq.s_$s");
		}
		my ($lo, $hi) = split /\|/, sql("SELECT min(msg_id), max(msg_id) FROM mq.s_$s");
		$range{$s} = {lo => $lo, hi => $hi - 4000};
	}
	sql('CHECKPOINT');
	for my $round (1 .. $rounds)
	{
		# both at the same time
		my %run = map {
			$_ => pgbench_start(sys => 'mq', script => 'sseek1000', sync => $sync,
								vars => {s => $_, %{$range{$_}}})
		} ('bench_sbig', 'bench_ssmall');
		for my $case (['mq', 'bench_sbig'], ['ref', 'bench_ssmall'])
		{
			my ($sys, $s) = @$case;
			my $r = pgbench_wait($run{$s});
			die "pgbench sseek1000 on $s stopped early\n" if $r->{dry};
			record('sbig', $sync, $sys, $round, $r->{tps} * 1000);
		}
	}
}

# Retention under load: appenders and consumers on bench_sret (retention
# 4 s, so segments of 1 s) while a sampler reads the record tables' dead
# tuples and size every second.
sub scen_stream_retention
{
	my $s = 'bench_sret';
	my $sync = 'off';
	reset_stream($s, 2, "'4 seconds'");
	sql('CHECKPOINT');
	my $tables = "FROM pg_stat_user_tables WHERE schemaname = 'mq' AND relname ~ '^s[0-9]+_$s\$'";
	my %fh;
	local $ENV{PGOPTIONS} = "-c synchronous_commit=$sync";
	for my $job (['append100', 2], ['sconsume1000', 2])
	{
		my ($script, $clients) = @$job;
		open($fh{$script}, '-|', "${bin}pgbench", '-n', '-M', 'prepared', '-c', $clients,
			 '-j', $clients, '-T', $retention_secs, '-f', "$dir/scripts/mq_$script.sql",
			 '-D', "s=$s", '-D', "bodies=$bodies") or die "pgbench: $!\n";
	}
	my $start = time;
	while (time - $start < $retention_secs)
	{
		sleep 1;
		# the age of the oldest record: the first of each partition
		my ($bytes, $age, $dead, $gbytes, $gdead) = split /\|/, sql(
			"SELECT (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) $tables),"
			. " coalesce(extract(epoch FROM clock_timestamp() - (SELECT min((SELECT appended_at"
			. "   FROM mq.s_$s WHERE partition = p ORDER BY msg_id LIMIT 1))"
			. "   FROM generate_series(0, 1) p)), 0),"
			. " (SELECT coalesce(sum(n_dead_tup), 0) $tables),"
			. " pg_total_relation_size('mq.g_$s'),"
			. " (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'mq.g_$s'::regclass)");
		push @retention_samples, [sprintf('%.1f', time - $start), $bytes, sprintf('%.2f', $age),
								  $dead, $gbytes, $gdead];
	}
	my %tps;
	for my $script (keys %fh)
	{
		my $out = do { local $/; readline($fh{$script}) };
		close($fh{$script});
		($tps{$script}) = $out =~ /tps = ([\d.]+) \(without initial connection time\)/;
		die "pgbench $script on $s failed:\n$out\n" unless $tps{$script};
	}
	my @first = grep { $_->[0] <= $retention_secs / 2 } @retention_samples;
	my @second = grep { $_->[0] > $retention_secs / 2 } @retention_samples;
	my $max = sub { my $m = 0; for (@_) { $m = $_ if $_ > $m } return $m; };
	%retention = (
		appended => $tps{append100} * 100,
		consumed => $tps{sconsume1000},
		dead => $max->(map { $_->[3] } @retention_samples),
		first => $max->(map { $_->[1] } @first),
		second => $max->(map { $_->[1] } @second),
		age => $max->(map { $_->[2] } @retention_samples),
		gbytes => $max->(map { $_->[4] } @retention_samples),
		records => sql("SELECT count(*) FROM mq.s_$s"),
		segments => sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'mq.s_$s'::regclass"),
	);
	say_progress(sprintf('retention: %.0f records/s appended; max n_dead_tup %d; oldest record'
						 . ' at most %.1f s old; max size %.1f MB (first half) / %.1f MB (second half)',
						 $retention{appended}, $retention{dead}, $retention{age},
						 $retention{first} / 2**20, $retention{second} / 2**20));
}

sub setup_streams
{
	reset_stream('bench_s1', 1);
	reset_stream('bench_s2', 2);
}

sub drop_streams
{
	sql("SELECT mq_drop(s) FROM unnest(ARRAY['bench_s1', 'bench_s2', 'bench_sbig',"
		. " 'bench_ssmall', 'bench_sret']) s");
}

sub scen_streams
{
	setup_streams();
	scen_stream_core($_) for @{$cfg->{syncs}};
	scen_stream_big('off');
	scen_stream_retention();
	drop_streams();
}

sub stream_rows
{
	for my $sync (@{$cfg->{syncs}})
	{
		for my $c (['sappend1', 'stream: single append (ref: mq_send)', 1.0],
				   ['sappend100', 'stream: append_batch of 100 (ref: mq_send_batch of 100)', 1.2])
		{
			my ($s, $label, $min) = @$c;
			my $x = $res{$s}{$sync} or next;
			my $m = ratio($x->{mq}, $x->{ref});
			row(scenario => $label, sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}), mqref => $m,
				target => "append/send >= $min", measured => $m, met => ($m // 0) >= $min,
				note => '2 clients each, both at the same time; records/s against messages/s');
		}
		if (my $x = $res{sconsume}{$sync})
		{
			my $m = ratio($x->{mq}, $x->{ref});
			my $p = ratio($x->{mq2}, $x->{pgq});
			row(scenario => 'stream: consume 1000, 2 consumers, 2 partitions (ref: read 100 + ack; PgQ: batches of 1000)',
				sync => $sync, mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}), mqref => $m,
				pgq => $x->{pgq} ? median(@{$x->{pgq}}) : undef, mqpgq => $p,
				target => 'stream/read+ack >= 5; stream/PgQ >= 2',
				measured => sprintf('%s; %s', fmt_ratio($m) || 'n/a', fmt_ratio($p) || 'n/a'),
				met => ($m // 0) >= 5 && ($p // 0) >= 2,
				note => 'each pair at the same time; PgQ: 2 queues, 1 consumer each (a PgQ consumer takes its batches one at a time), a tick by pgq.ticker() after every 1000 events, no pgqd; mq/PgQ against the stream run beside PgQ ('
					. fmt_rate(median(@{$x->{mq2} // []})) . ' records/s)');
		}
	}
	if (my $x = $res{sbig}{off})
	{
		my $m = ratio($x->{mq}, $x->{ref});
		row(scenario => sprintf('stream: seek + consume 1000 in %s records (ref: in 10^4)',
								$stream_big == 10_000_000 ? '10^7' : $stream_big),
			sync => 'off', mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}), mqref => $m,
			target => 'big/10^4 in 0.8-1.2', measured => $m,
			met => defined $m && $m >= 0.8 && $m <= 1.2,
			note => '2 clients each, both at the same time; a random msg_id each time, rolled back');
	}
	if (%retention)
	{
		# bounded: no record older than the retention and two segment spans
		# (a segment outlives the retention by at most its span, 1 s here,
		# plus a pass of the worker)
		my $bounded = $retention{age} <= 6;
		row(scenario => "stream: retention 4 s under load ($retention_secs s)", sync => 'off',
			mq => $retention{appended},
			target => 'n_dead_tup 0 on record tables; size bounded (oldest record <= 6 s)',
			measured => sprintf('n_dead_tup %d; oldest %.1f s; max %.0f / %.0f MB (1st / 2nd half)',
								$retention{dead}, $retention{age}, $retention{first} / 2**20,
								$retention{second} / 2**20),
			met => $retention{dead} == 0 && $bounded,
			note => sprintf('mq column: records appended/s (2 clients, batches of 100) while 2 consume'
							. ' 1000 a call; %d records in %d segments at the end;'
							. ' positions table at most %.0f kB',
							$retention{records}, $retention{segments}, $retention{gbytes} / 1024));
	}
}

# stream chart data and chart: rates of the stream rows and their
# comparisons (log scale), and the retention run over time
sub stream_chart
{
	open(my $fh, '>', "$out/streams.dat") or die;
	print $fh "# scenario stream queue pgq\n";
	for my $sync (@{$cfg->{syncs}})
	{
		for my $c (['sappend1', 'append 1'], ['sappend100', 'append 100'], ['sconsume', 'consume 1000'])
		{
			my ($s, $label) = @$c;
			my $x = $res{$s}{$sync} or next;
			print $fh join(' ', "\"$label\\n$sync\"",
						   map { $x->{$_} ? sprintf('%.0f', median(@{$x->{$_}})) : 'NaN' }
						   qw(mq ref pgq)), "\n";
		}
	}
	close $fh;
	open($fh, '>', "$out/retention.dat") or die;
	print $fh "# secs record_bytes oldest_age_s n_dead_tup g_bytes g_n_dead_tup\n";
	print $fh join(' ', @$_), "\n" for @retention_samples;
	close $fh;
	my ($rc) = capture('sh', '-c', 'command -v gnuplot');
	return if $rc != 0;
	open(my $gp, '>', "$out/streams.gp") or die;
	print $gp <<"GP";
set terminal pngcairo size 1200,500 font 'DejaVu Sans,10' noenhanced
set output '$out/streams.png'
set multiplot layout 1,2 title 'mq streams (SPEC 12.5)'
set grid ytics
set key top left font ',9'
set xtics font ',8'
set bmargin 4
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [1000:1e8]
set ylabel 'records or messages per second (log scale)'
set title 'stream against queue and PgQ'
plot '$out/streams.dat' using 2:xtic(1) lc rgb '#1f77b4' title 'stream', \\
     '' using 3 lc rgb '#ff7f0e' title 'mq queue (send, send_batch, read 100 + ack)', \\
     '' using 4 lc rgb '#2ca02c' title 'PgQ (batches of 1000)'
unset logscale y
unset style
set style data linespoints
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set xlabel 'seconds under load'
set ylabel 'record tables, MB'
set y2label 'n_dead_tup (record tables)'
set title 'retention 4 s: size and dead tuples while appending and consuming'
plot '$out/retention.dat' using 1:(\$2/1048576) with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'size, MB', \\
     '' using 1:4 axes x1y2 with linespoints lw 2 pt 5 lc rgb '#d62728' title 'n_dead_tup'
unset multiplot
GP
	close $gp;
	my ($grc, $output) = capture('gnuplot', "$out/streams.gp");
	say_progress("gnuplot failed: $output") if $grc != 0;
}

# ---- the table --------------------------------------------------------

sub fmt_rate
{
	my ($v) = @_;
	return '' unless defined $v;
	return sprintf('%.0f', $v);
}

sub fmt_ratio
{
	my ($v) = @_;
	return defined $v ? sprintf('%.2f', $v) : '';
}

# the median of the per-round ratios a/b
sub ratio
{
	my ($a, $b) = @_;
	return undef unless $a && $b;
	my @r;
	for my $i (0 .. ($#$a < $#$b ? $#$a : $#$b))
	{
		push @r, $a->[$i] / $b->[$i] if $a->[$i] && $b->[$i];
	}
	return median(@r);
}

# The ceiling of a scenario that commits once or twice a message: the same
# clients running only the empty durable transactions it commits (a WAL
# record of no size and a commit record each: scripts/commit_send1.sql,
# commit_consume1.sql), in the same rounds.  No queue that commits as
# often can pass it, so ceiling/ref bounds what any mq/ref can be; with
# synchronous_commit = on, where the commit waits for its WAL flush, it is
# the flush that sets it.
sub ceiling_note
{
	my ($x) = @_;
	return undef unless $x->{commit};
	return sprintf('ceiling %.0f msg/s (empty durable transactions), ceiling/ref %s',
				   median(@{$x->{commit}}), fmt_ratio(ratio($x->{commit}, $x->{ref})));
}

my @rows;

sub row
{
	my (%r) = @_;
	push @rows, \%r;
}

sub build_table
{
	my %label = (
		send1 => 'single send per transaction',
		send100 => 'batch send, 100 per call',
		consume1 => 'consume: read 1, then ack, 2 clients',
		consume100 => 'consume in batches of 100, 2 clients (PgQ: 1)',
		dead => sprintf('consume, %dk dead rows at the head, no vacuum', $dead_rows / 1000),
		snapshot => 'consume while a snapshot is held open',
		delayed => sprintf('%dk delayed messages ahead of ready ones', $delayed_rows / 1000),
		c16 => '16 consumers on 1 queue',
	);
	for my $sync (@{$cfg->{syncs}})
	{
		for my $s (qw(send1 send100 consume1 consume100))
		{
			my $x = $res{$s}{$sync} or next;
			my $r = ratio($x->{mq}, $x->{ref});
			row(scenario => $label{$s}, sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}),
				mqref => $r,
				pgq => $x->{pgq} ? median(@{$x->{pgq}}) : undef,
				mqpgq => ratio($x->{mq}, $x->{pgq}),
				target => 'mq/ref >= 1.0', measured => $r, met => defined $r && $r >= 1.0,
				note => join('; ', grep { $_ } $note{$s}{$sync}, ceiling_note($x)));
		}
	}
	for my $sync (@{$cfg->{other_syncs}})
	{
		my $clean = $res{consume1}{$sync};
		for my $s (qw(dead snapshot delayed))
		{
			my $x = $res{$s}{$sync} or next;
			my $min = {dead => 0.7, snapshot => 0.5, delayed => 0.8}->{$s};
			my $m = ratio($x->{mq}, $clean->{mq});
			row(scenario => $label{$s}, sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}),
				mqref => ratio($x->{mq}, $x->{ref}),
				target => "mq/clean >= $min", measured => $m, met => ($m // 0) >= $min,
				note => 'ref/clean ' . fmt_ratio(ratio($x->{ref}, $clean->{ref})));
		}
		if (my $x = $res{c16}{$sync})
		{
			my $m = ratio($x->{mq}, $clean->{mq});
			my $ok = ($note{c16}{$sync} // '') =~ /no duplicates/;
			row(scenario => $label{c16}, sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}),
				mqref => ratio($x->{mq}, $x->{ref}),
				target => 'no duplicates; mq/2 clients >= 1.0', measured => $m,
				met => $ok && ($m // 0) >= 1.0, note => $note{c16}{$sync});
		}
		my $base = $res{"backlog$backlogs[0]"}{$sync};
		for my $n (@backlogs)
		{
			my $x = $res{"backlog$n"}{$sync} or next;
			my $m = ratio($x->{mq}, $base->{mq});
			row(scenario => "backlog $n: send, read, ack, 1 client", sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}),
				mqref => ratio($x->{mq}, $x->{ref}),
				target => "mq/backlog $backlogs[0] in 0.8-1.2", measured => $m,
				met => defined $m && $m >= 0.8 && $m <= 1.2,
				note => "ref/backlog $backlogs[0] " . fmt_ratio(ratio($x->{ref}, $base->{ref})));
		}
	}
	for my $sync (@{$cfg->{syncs}})
	{
		if (my $x = $res{topic1000}{$sync})
		{
			my $m = ratio($x->{mq}, $x->{ref});
			row(scenario => 'publish to 1 of 1,000 bindings', sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}), mqref => $m,
				target => 'publish/send >= 0.8', measured => $m, met => ($m // 0) >= 0.8,
				note => 'ref column: a single mq_send');
		}
		if (my $x = $res{fanout10}{$sync})
		{
			my $m = ratio($x->{mq}, $x->{ref});
			row(scenario => 'fan-out: 1 publish to 10 queues', sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}), mqref => $m,
				target => 'publish/10 sends (no target)', measured => $m,
				note => 'ref column: 10 mq_send in one transaction; msg/s counts copies');
		}
	}
	stream_rows();
	for my $sync ($ENV{BENCH_ONLY} ? () : @{$cfg->{syncs}})
	{
		my $l = $res{latency}{$sync};
		row(scenario => 'send-commit -> waiting reader returns', sync => $sync,
			target => 'p50 < 1 ms, p99 < 5 ms',
			measured => $l ? "p50 $l->{p50} ms, p99 $l->{p99} ms" : undef,
			met => $l ? ($l->{p50} < 1 && $l->{p99} < 5) : undef,
			note => $l ? '' : ($note{latency}{$sync} // 'not measured: no bench/latency'));
	}
}

sub table_text
{
	my @head = ('scenario', 'sync', 'mq msg/s', 'ref msg/s', 'mq/ref', 'PgQ msg/s',
				'mq/PgQ', 'target', 'measured', 'met', 'notes');
	my @lines = ('| ' . join(' | ', @head) . ' |',
				 '|' . join('|', map { /msg|mq\/|met/ ? '---:' : '---' } @head) . '|');
	for my $r (@rows)
	{
		my $measured = $r->{measured};
		$measured = fmt_ratio($measured) if defined $measured && $measured =~ /^[\d.]+$/;
		push @lines, '| ' . join(' | ',
			$r->{scenario}, $r->{sync}, fmt_rate($r->{mq}), fmt_rate($r->{ref}),
			fmt_ratio($r->{mqref}), fmt_rate($r->{pgq}), fmt_ratio($r->{mqpgq}),
			$r->{target}, $measured // 'n/a',
			!defined $r->{met} ? '' : $r->{met} ? 'yes' : 'NO',
			$r->{note} // '') . ' |';
	}
	return join("\n", @lines) . "\n";
}

sub write_results
{
	my $server = sql('SHOW server_version');
	my $cpuinfo = `cat /proc/cpuinfo`;
	my ($cpu) = $cpuinfo =~ /^model name\s*:\s*(.*)$/m;
	my $ncpu = () = $cpuinfo =~ /^processor/mg;
	$cpu //= 'unknown CPU';
	my $header = sprintf("mq benchmark, mode %s: %d s a run, median of %d rounds;"
						 . " PostgreSQL %s; %d x %s; %s\n",
						 $mode, $secs, $rounds, $server, $ncpu, $cpu,
						 strftime('%Y-%m-%d %H:%M UTC', gmtime));
	my $text = $header . "\n" . table_text();
	open(my $fh, '>', "$out/table.md") or die "$out/table.md: $!";
	print $fh $text;
	close $fh;

	open($fh, '>', "$out/raw.csv") or die "$out/raw.csv: $!";
	print $fh "scenario,sync,system,round,msgs_per_s\n";
	printf $fh "%s,%s,%s,%d,%.1f\n", @$_ for @raw;
	close $fh;

	# chart data: throughput against backlog and against dead rows
	my @syncs = @{$cfg->{other_syncs}};
	my @cols = map { my $s = $_; map { "${_}_$s" } qw(mq ref) } @syncs;
	open($fh, '>', "$out/backlog.dat") or die;
	print $fh "# backlog @cols\n";
	for my $n (@backlogs)
	{
		print $fh join(' ', $n, map {
			my ($sys, $s) = split /_/;
			my $v = $res{"backlog$n"}{$s}{$sys};
			$v ? sprintf('%.0f', median(@$v)) : 'NaN'
		} @cols), "\n";
	}
	close $fh;
	open($fh, '>', "$out/dead.dat") or die;
	print $fh "# dead_rows @cols\n";
	for my $n (0, $dead_rows)
	{
		print $fh join(' ', $n, map {
			my ($sys, $s) = split /_/;
			my $v = $res{$n ? 'dead' : 'consume1'}{$s}{$sys};
			$v ? sprintf('%.0f', median(@$v)) : 'NaN'
		} @cols), "\n";
	}
	close $fh;
	chart(@syncs) unless $ENV{BENCH_ONLY};
	stream_chart() if $res{sconsume} || %retention;
	return $text;
}

sub chart
{
	my @syncs = @_;
	my ($rc) = capture('sh', '-c', 'command -v gnuplot');
	if ($rc != 0)
	{
		say_progress('gnuplot is not installed: no chart');
		return;
	}
	my $plots = sub {
		my ($file) = @_;
		my @p;
		my $col = 2;
		for my $s (@syncs)
		{
			push @p, "'$out/$file' using 1:$col with linespoints lw 2 pt 7 lc rgb '#1f77b4'"
				. ($s eq 'on' ? ' dt 2' : '') . " title 'mq, sync $s'";
			push @p, "'$out/$file' using 1:" . ($col + 1)
				. " with linespoints lw 2 pt 5 lc rgb '#d62728'"
				. ($s eq 'on' ? ' dt 2' : '') . " title 'reference, sync $s'";
			$col += 2;
		}
		return join(', ', @p);
	};
	open(my $gp, '>', "$out/chart.gp") or die;
	print $gp <<"GP";
set terminal pngcairo size 1200,500 font 'DejaVu Sans,10' noenhanced
set output '$out/chart.png'
set multiplot layout 1,2 title 'mq vs plain-SQL SKIP LOCKED reference (messages/s, higher is better)'
set grid
set key bottom left
set yrange [0:*]
set logscale x
set xrange [0.5:3e6]
set xtics ('1' 1, '10' 10, '100' 100, '1k' 1e3, '10k' 1e4, '100k' 1e5, '1M' 1e6)
set xlabel 'waiting messages (backlog)'
set ylabel 'messages/s: send + read + ack, 1 client'
set title 'throughput against backlog'
plot @{[ $plots->('backlog.dat') ]}
unset logscale x
set xtics auto
set format x '%.0s%c'
set xrange [-50000:550000]
set xlabel 'dead rows at the head of the queue (no vacuum)'
set ylabel 'messages/s: read 1 + ack, 2 clients'
set title 'throughput against dead rows'
plot @{[ $plots->('dead.dat') ]}
unset multiplot
GP
	close $gp;
	my ($grc, $output) = capture('gnuplot', "$out/chart.gp");
	say_progress("gnuplot failed: $output") if $grc != 0;
}

# ---- main -------------------------------------------------------------

say_progress("mode $mode: runs of $secs s, $rounds rounds");
setup();
setup_topics();
# BENCH_ONLY=topics runs the topic scenarios alone
if (($ENV{BENCH_ONLY} // '') eq 'topics')
{
	scen_topics($_) for @{$cfg->{syncs}};
	build_table();
	print "\n" . write_results();
	exit 0;
}
# BENCH_ONLY=streams runs the stream scenarios alone
if (($ENV{BENCH_ONLY} // '') eq 'streams')
{
	scen_streams();
	build_table();
	print "\n" . write_results();
	exit 0;
}
setup_states();
for my $sync (@{$cfg->{syncs}})
{
	scen_send('send1', 1, $sync);
	scen_send('send100', 100, $sync);
	scen_consume1($sync);
	scen_consume100($sync);
	scen_topics($sync);
}
reset_states();
scen_streams();
scen_backlog();
scen_latency();
build_table();
my $text = write_results();
say_progress("done; results in $out");
print "\n$text";
