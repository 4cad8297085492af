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
# each system per figure; syncs: synchronous_commit settings of the core
# scenarios, and of the others (degradation, 16 consumers, backlog).
my %modes = (
	short => {
		secs => 2, rounds => 2, syncs => ['on', 'off'], other_syncs => ['off'],
		dead => [500_000], backlog => [1, 100_000, 1_000_000],
	},
	full => {
		secs => 5, rounds => 3, syncs => ['on', 'off'], other_syncs => ['on', 'off'],
		dead => [100_000, 500_000], backlog => [1, 100_000, 1_000_000],
	},
);
my $cfg = $modes{$mode} or die "MODE must be short or full, not \"$mode\"\n";
my $secs = $ENV{BENCH_SECS} // $cfg->{secs};
my $rounds = $ENV{BENCH_ROUNDS} // $cfg->{rounds};

my $t0 = time;
my $body = '{"order_id": 1234, "customer": "c-42", "amount": 99.5}';
my $bodies = '{' . join(',', map {
	my $b = $body;
	$b =~ s/1234/$_/;
	$b =~ s/"/\\"/g;
	"\"$b\""
} 1 .. 100) . '}';

# The tables each system keeps its messages in (the harness reads and
# truncates them directly, outside the measured runs).
my %table = (mq => 'mq.q_bench', ref => 'ref.q');

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

# Run SQL (one or more statements, each in its own transaction); returns
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

# One pgbench run.  Returns a hash: ntx (scripts completed), secs (their
# time, without connecting), tps; dry is set when a consumer found the
# queue empty (the prefill was too small).
sub pgbench
{
	my (%o) = @_;
	my $clients = $o{clients} // 2;
	my @cmd = ("${bin}pgbench", '-n', '-M', 'prepared', '-c', $clients,
			   '-j', $clients < 2 ? $clients : 2,
			   '-f', "$dir/scripts/$o{script}.sql",
			   '-D', "body=$body", '-D', "bodies=$bodies");
	push @cmd, $o{txns} ? ('-t', $o{txns}) : ('-T', $o{secs} // $secs);
	local $ENV{PGOPTIONS} = "-c synchronous_commit=$o{sync}";
	my ($rc, $output) = capture(@cmd);
	my %r;
	$r{dry} = 1 if $output =~ /expected one row, got 0|malformed array literal/;
	if ($rc != 0 && !$r{dry})
	{
		die "pgbench $o{script} failed:\n$output\n";
	}
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
	my ($sys, $where) = @_;
	return sql("SELECT count(*) FROM $table{$sys}" . ($where ? " WHERE $where" : ''));
}

sub fill
{
	my ($sys, $n, $delay) = @_;
	$delay //= '0';
	# in pieces, so that no one transaction holds back vacuum for long
	while ($n > 0)
	{
		my $k = $n < 200_000 ? $n : 200_000;
		sql("SELECT bench.fill_$sys($k, '$delay')");
		$n -= $k;
	}
}

# Bring a queue to n ready messages (sending what is missing), then
# vacuum it and checkpoint, so that each run starts clean.
sub prepare_queue
{
	my ($sys, $n, %o) = @_;
	my $have = count_rows($sys, 'visible_at <= now()');
	fill($sys, $n - $have) if $have < $n;
	sql("VACUUM (ANALYZE) $table{$sys}") unless $o{novacuum};
	sql('CHECKPOINT');
}

sub reset_queue
{
	my ($sys) = @_;
	if ($sys eq 'pgq')
	{
		sql("SELECT pgq.drop_queue('bench', true)") if sql("SELECT count(*) FROM pgq.queue WHERE queue_name = 'bench'");
		sql("SELECT pgq.create_queue('bench')",
			"SELECT pgq.set_queue_config('bench', 'ticker_max_count', '1')",
			"SELECT pgq.register_consumer('bench', 'bench')");
	}
	else
	{
		sql("TRUNCATE $table{$sys}");
	}
}

sub record
{
	my ($scen, $sync, $sys, $round, $rate) = @_;
	push @{$res{$scen}{$sync}{$sys}}, $rate;
	push @raw, [$scen, $sync, $sys, $round, $rate];
	say_progress(sprintf("%-12s sync=%-3s %-3s round %d: %9.0f msg/s",
						 $scen, $sync, $sys, $round, $rate // 0));
}

# The systems of a round, in an order that alternates between rounds.
sub turns
{
	my ($round, @sys) = @_;
	return $round % 2 ? reverse(@sys) : @sys;
}

# A consume run: the queue holds n ready messages first; the rate counts
# the messages that left the queue.  A run that empties the queue is
# repeated with twice the messages.
sub consume_run
{
	my ($sys, $script, $sync, $n, %o) = @_;
	for (my $try = 0;; $try++)
	{
		prepare_queue($sys, $n, %o) unless $o{noprepare};
		my $before = count_rows($sys);
		my $dups = sql('SELECT count(*) FROM bench.dup');
		my $r = pgbench(script => "${sys}_$script", sync => $sync,
						clients => $o{clients});
		my $gone = $before - count_rows($sys);
		if ($r->{dry})
		{
			die "the queue ran dry twice in $script\n" if $try >= 2 || $o{noprepare};
			$n *= 2;
			say_progress("$sys $script: queue ran dry, again with $n messages");
			next;
		}
		if ($o{check})
		{
			my $newdups = sql('SELECT count(*) FROM bench.dup') - $dups;
			$o{check}->{dups} += $newdups;
			# each completed script read one message and acked it
			$o{check}->{mismatch} += abs($gone - $r->{ntx} * ($o{per} // 1));
			$o{check}->{acked} += $gone;
		}
		return $gone / $r->{secs};
	}
}

# Sends: each run starts from an empty queue.
sub scen_send
{
	my ($scen, $per, $sync) = @_;
	my @sys = ('mq', 'ref', $have_pgq ? 'pgq' : ());
	for my $round (1 .. $rounds)
	{
		for my $sys (turns($round, @sys))
		{
			reset_queue($sys);
			sql('CHECKPOINT');
			my $r = pgbench(script => "${sys}_$scen", sync => $sync);
			die "pgbench ${sys}_$scen stopped early\n" if $r->{dry};
			record($scen, $sync, $sys, $round, $r->{tps} * $per);
		}
	}
	reset_queue($_) for @sys;
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
	my $r = pgbench(script => 'pgq_consume100', sync => $sync, clients => 1, txns => $k);
	die "pgq consume failed\n" if $r->{dry};
	my $left = sql("SELECT coalesce(pending_events, 0) FROM pgq.get_consumer_info('bench', 'bench')");
	die "pgq consumer left $left events\n" if $left > 0;
	return $r->{tps} * 100;
}

sub scen_consume
{
	my ($scen, $sync) = @_;
	my $per = $scen eq 'consume100' ? 100 : 1;
	my @sys = ('mq', 'ref', ($have_pgq && $per == 100) ? 'pgq' : ());
	my %check;
	for my $round (1 .. $rounds)
	{
		for my $sys (turns($round, @sys))
		{
			my $rate = $sys eq 'pgq'
				? pgq_consume_run($sync)
				: consume_run($sys, $scen, $sync, guess($scen, $sync, $sys),
							  $sys eq 'mq' ? (check => \%check, per => $per) : ());
			record($scen, $sync, $sys, $round, $rate);
		}
	}
	$note{$scen}{$sync} = check_note(\%check) if $per == 1;
}

sub check_note
{
	my ($c) = @_;
	return sprintf("%d acked, %s", $c->{acked} // 0,
				   ($c->{dups} || $c->{mismatch})
				   ? "DUPLICATES: $c->{dups} failed acks, $c->{mismatch} unaccounted"
				   : 'no duplicates');
}

# Messages to prefill for a consume run: twice what the last run took.
sub guess
{
	my ($scen, $sync, $sys) = @_;
	my $last = $res{$scen}{$sync}{$sys} ? $res{$scen}{$sync}{$sys}[-1] : undef;
	$last //= $res{consume1}{$sync}{$sys}[-1] if $scen ne 'consume100';
	$last //= $scen eq 'consume100' ? 60_000 : 8_000;
	my $n = int($last * $secs * 2) + 1000;
	return $n < 20_000 ? 20_000 : $n;
}

# Dead rows at the head: autovacuum off for the queue's table, n messages
# sent and consumed, then fresh messages behind them consumed as in
# consume1.  Points for several n accumulate on the same table.
sub scen_dead
{
	my @sys = ('mq', 'ref');
	my $made = 0;
	for my $sys (@sys)
	{
		reset_queue($sys);
		sql("ALTER TABLE $table{$sys} SET (autovacuum_enabled = off)");
	}
	for my $n (@{$cfg->{dead}})
	{
		for my $sys (@sys)
		{
			my $todo = $n - $made;
			say_progress("dead rows: $sys sends and consumes $todo messages");
			fill($sys, $todo);
			# the reads and acks in transactions of 10000, like a consumer
			sql(("SELECT bench.drain_$sys(10000)") x int(($todo + 9999) / 10000));
		}
		$made = $n;
		my $scen = "dead$n";
		for my $sync (@{$cfg->{other_syncs}})
		{
			for my $round (1 .. $rounds)
			{
				for my $sys (turns($round, @sys))
				{
					my $rate = consume_run($sys, 'consume1', $sync,
										   guess('consume1', $sync, $sys), novacuum => 1);
					record($scen, $sync, $sys, $round, $rate);
				}
			}
		}
	}
	for my $sys (@sys)
	{
		sql("ALTER TABLE $table{$sys} RESET (autovacuum_enabled)");
		reset_queue($sys);
	}
}

# A snapshot held open by another session (a REPEATABLE READ transaction
# that has run a SELECT) for the whole run.
sub scen_snapshot
{
	my @sys = ('mq', 'ref');
	for my $sync (@{$cfg->{other_syncs}})
	{
		for my $round (1 .. $rounds)
		{
			for my $sys (turns($round, @sys))
			{
				prepare_queue($sys, guess('consume1', $sync, $sys));
				local $ENV{PGAPPNAME} = 'mq_bench_snapshot';
				open(my $holder, '|-', "${bin}psql", '-X', '-q', '-o', '/dev/null')
					or die "psql: $!";
				$holder->autoflush(1);
				print $holder "BEGIN ISOLATION LEVEL REPEATABLE READ;\n"
					. "SELECT count(*) FROM bench.dup;\n";
				for (my $i = 0;; $i++)
				{
					last if sql("SELECT count(*) FROM pg_stat_activity"
								. " WHERE application_name = 'mq_bench_snapshot'"
								. " AND state = 'idle in transaction'"
								. " AND backend_xmin IS NOT NULL");
					die "the snapshot holder did not start\n" if $i > 100;
					sleep 0.1;
				}
				my $rate = consume_run($sys, 'consume1', $sync,
									   guess('consume1', $sync, $sys), noprepare => 1);
				print $holder "COMMIT;\n";
				close $holder;
				record('snapshot', $sync, $sys, $round, $rate);
			}
		}
	}
}

# 100,000 delayed messages (an hour) sent before the ready ones.
sub scen_delayed
{
	my @sys = ('mq', 'ref');
	for my $sys (@sys)
	{
		reset_queue($sys);
		fill($sys, 100_000, '1 hour');
	}
	for my $sync (@{$cfg->{other_syncs}})
	{
		for my $round (1 .. $rounds)
		{
			for my $sys (turns($round, @sys))
			{
				my $rate = consume_run($sys, 'consume1', $sync,
									   guess('consume1', $sync, $sys));
				record('delayed', $sync, $sys, $round, $rate);
			}
		}
	}
	reset_queue($_) for @sys;
}

# 16 consumers on one queue, every ack checked (scripts/mq_consume1.sql).
sub scen_c16
{
	my @sys = ('mq', 'ref');
	for my $sync (@{$cfg->{other_syncs}})
	{
		my %check;
		for my $round (1 .. $rounds)
		{
			for my $sys (turns($round, @sys))
			{
				my $rate = consume_run($sys, 'consume1', $sync,
									   guess('consume1', $sync, $sys), clients => 16,
									   $sys eq 'mq' ? (check => \%check) : ());
				record('c16', $sync, $sys, $round, $rate);
			}
		}
		$note{c16}{$sync} = check_note(\%check);
	}
}

# A steady state at a fixed backlog: each script sends one message, reads
# the oldest and acks it, so the queue stays at its size.
sub scen_backlog
{
	my @sys = ('mq', 'ref');
	for my $n (@{$cfg->{backlog}})
	{
		for my $sys (@sys)
		{
			reset_queue($sys);
			fill($sys, $n);
		}
		for my $sync (@{$cfg->{other_syncs}})
		{
			for my $round (1 .. $rounds)
			{
				for my $sys (turns($round, @sys))
				{
					sql("VACUUM (ANALYZE) $table{$sys}", 'CHECKPOINT');
					my $r = pgbench(script => "${sys}_cycle", sync => $sync);
					die "${sys}_cycle stopped early\n" if $r->{dry};
					record("backlog$n", $sync, $sys, $round, $r->{tps});
				}
			}
		}
	}
	reset_queue($_) for @sys;
}

# Send-commit to waiting-reader latency, measured by bench/latency when that
# program exists (or bench/latency.c, which is compiled).  It gets the
# server from the environment and BENCH_SECS, and prints lines such as
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
			$note{latency}{on} = "bench/latency.c did not compile";
			say_progress("latency: bench/latency.c did not compile:\n$output");
			return;
		}
	}
	return unless -x $prog;
	for my $sync (@{$cfg->{syncs}})
	{
		reset_queue('mq');
		local $ENV{PGOPTIONS} = "-c synchronous_commit=$sync";
		local $ENV{BENCH_SECS} = $secs;
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
		say_progress("latency     sync=$sync p50 $p50 ms, p99 $p99 ms");
	}
	reset_queue('mq');
}

sub setup
{
	my $pgq = sql("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgq'");
	sql('DROP EXTENSION IF EXISTS mq CASCADE', 'DROP SCHEMA IF EXISTS ref CASCADE',
		'DROP SCHEMA IF EXISTS bench CASCADE', 'DROP EXTENSION IF EXISTS pgq CASCADE',
		'CREATE EXTENSION mq', "SELECT mq_create('bench')");
	my ($rc, $output) = capture("${bin}psql", '-X', '-q', '-v', 'ON_ERROR_STOP=1',
								'-f', "$dir/ref.sql", '-f', "$dir/setup.sql");
	die "setup failed: $output\n" if $rc != 0;
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

# the ratio of two medians (figures from different runs)
sub ratio_of_medians
{
	my ($a, $b) = @_;
	return undef unless $a && $b;
	my ($ma, $mb) = (median(@$a), median(@$b));
	return $mb ? $ma / $mb : undef;
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
		snapshot => 'consume while a snapshot is held open',
		delayed => '100k delayed messages ahead of ready ones',
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
				note => $note{$s}{$sync});
		}
	}
	for my $sync (@{$cfg->{other_syncs}})
	{
		my $clean = $res{consume1}{$sync};
		for my $n (@{$cfg->{dead}})
		{
			my $x = $res{"dead$n"}{$sync} or next;
			my $m = ratio_of_medians($x->{mq}, $clean->{mq});
			row(scenario => sprintf('consume, %dk dead rows at the head, no vacuum', $n / 1000),
				sync => $sync, mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}),
				mqref => ratio($x->{mq}, $x->{ref}),
				target => ($n == 500_000 ? 'mq/clean >= 0.7' : 'context'),
				measured => $m, met => $n == 500_000 ? ($m // 0) >= 0.7 : undef,
				note => sprintf('ref/clean %s', fmt_ratio(ratio_of_medians($x->{ref}, $clean->{ref}))));
		}
		for my $s (qw(snapshot delayed))
		{
			my $x = $res{$s}{$sync} or next;
			my $min = $s eq 'snapshot' ? 0.5 : 0.8;
			my $m = ratio_of_medians($x->{mq}, $clean->{mq});
			row(scenario => $label{$s}, sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}),
				mqref => ratio($x->{mq}, $x->{ref}),
				target => "mq/clean >= $min", measured => $m, met => ($m // 0) >= $min,
				note => sprintf('ref/clean %s', fmt_ratio(ratio_of_medians($x->{ref}, $clean->{ref}))));
		}
		if (my $x = $res{c16}{$sync})
		{
			my $m = ratio_of_medians($x->{mq}, $clean->{mq});
			my $ok = ($note{c16}{$sync} // '') =~ /no duplicates/;
			row(scenario => $label{c16}, sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}),
				mqref => ratio($x->{mq}, $x->{ref}),
				target => 'no duplicates; mq/2 clients >= 1.0', measured => $m,
				met => $ok && ($m // 0) >= 1.0, note => $note{c16}{$sync});
		}
		my $base = $res{"backlog$cfg->{backlog}[0]"}{$sync};
		for my $n (@{$cfg->{backlog}})
		{
			my $x = $res{"backlog$n"}{$sync} or next;
			my $m = ratio_of_medians($x->{mq}, $base->{mq});
			row(scenario => "backlog $n: send, read, ack (per message)", sync => $sync,
				mq => median(@{$x->{mq}}), ref => median(@{$x->{ref}}),
				mqref => ratio($x->{mq}, $x->{ref}),
				target => "mq/backlog $cfg->{backlog}[0] within 0.8-1.2", measured => $m,
				met => defined $m && $m >= 0.8 && $m <= 1.2,
				note => sprintf('ref/backlog %d %s', $cfg->{backlog}[0],
								fmt_ratio(ratio_of_medians($x->{ref}, $base->{ref}))));
		}
	}
	for my $sync (@{$cfg->{syncs}})
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
	for my $n (@{$cfg->{backlog}})
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
	for my $n (0, @{$cfg->{dead}})
	{
		print $fh join(' ', $n, map {
			my ($sys, $s) = split /_/;
			my $v = $n ? $res{"dead$n"}{$s}{$sys} : $res{consume1}{$s}{$sys};
			$v ? sprintf('%.0f', median(@$v)) : 'NaN'
		} @cols), "\n";
	}
	close $fh;
	chart(@syncs);
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
set xlabel 'waiting messages (backlog)'
set ylabel 'messages/s: send + read + ack, 2 clients'
set title 'throughput against backlog'
plot @{[ $plots->('backlog.dat') ]}
unset logscale x
set xrange [-20000:*]
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
for my $sync (@{$cfg->{syncs}})
{
	scen_send('send1', 1, $sync);
	scen_send('send100', 100, $sync);
	scen_consume('consume1', $sync);
	scen_consume('consume100', $sync);
}
scen_dead();
scen_snapshot();
scen_delayed();
scen_c16();
scen_backlog();
scen_latency();
build_table();
my $text = write_results();
say_progress("done; results in $out");
print "\n$text";
