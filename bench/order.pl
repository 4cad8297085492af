#!/usr/bin/perl
#
# order.pl: the figures of SPEC 12.5 for ordering and control, on the
# server the environment points at (PGHOST, PGPORT, PGDATABASE, PGUSER),
# in a database where CREATE EXTENSION mq works.  bench/run.sh runs it
# after bench.pl; by hand: perl bench/order.pl.
#
# Scenarios (2 clients, read 1 + ack, from a backlog topped up before each
# run), each against a plain queue at the same time (both sides share
# whatever else the machine does, which keeps their ratio steady on a busy
# machine):
#   groups   10,000 groups, 5 messages each, against an ungrouped queue
#   blocked  the same, with 10,000 more groups whose heads are in flight
#            (leased for an hour) and messages waiting behind them
#   priority 10 priority levels, messages spread over them at random
# A ratio is the median of the per-round ratios.
#
# Environment: PGBIN (directory of psql and pgbench), BENCH_SECS (length of
# a run, 5), BENCH_ROUNDS (7), BENCH_SYNC (synchronous_commit, off).
#
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $dir = dirname(abs_path($0));
my $bin = $ENV{PGBIN} ? "$ENV{PGBIN}/" : '';
my $secs = $ENV{BENCH_SECS} // 5;
my $rounds = $ENV{BENCH_ROUNDS} // 7;
my $sync = $ENV{BENCH_SYNC} // 'off';
my $backlog = 120_000;
my $groups = 10_000;

sub sql
{
	my @cmds = map { ('-c', $_) } @_;
	local $ENV{PGOPTIONS} = '-c synchronous_commit=off -c client_min_messages=warning';
	my $out = `${bin}psql -X -q -A -t -v ON_ERROR_STOP=1 @{[join ' ', map { quotemeta } @cmds]} 2>&1`;
	die "psql failed: $out\n" if $? != 0;
	chomp $out;
	return $out;
}

sub median
{
	my @v = sort { $a <=> $b } @_;
	return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub live { my ($q) = @_; return sql("SELECT (SELECT count(*) FROM mq.q_$q) + (SELECT count(*) FROM mq.p_$q)"); }

# Messages consumed per second by 2 clients reading 1 and acking, on each
# of two queues at the same time (so that both share whatever else the
# machine does).
sub consume_pair
{
	my @q = @_;
	my %before = map { $_ => live($_) } @q;
	my %fh;
	local $ENV{PGOPTIONS} = "-c synchronous_commit=$sync";
	for my $q (@q)
	{
		open($fh{$q}, '-|', "${bin}pgbench -n -M prepared -c 2 -j 2 -T $secs"
			 . " -f $dir/scripts/order_consume1.sql -D q=$q 2>&1") or die "pgbench: $!\n";
	}
	my @rates;
	for my $q (@q)
	{
		my $out = do { local $/; readline($fh{$q}) };
		close($fh{$q});
		my ($ntx) = $out =~ /number of transactions actually processed: (\d+)/;
		my ($tps) = $out =~ /tps = ([\d.]+) \(without initial connection time\)/;
		die "pgbench failed on $q:\n$out\n" unless $tps;
		my $after = live($q);
		die "$q ran dry\n" if $after < 1000;
		push @rates, ($before{$q} - $after) / ($ntx / $tps);
	}
	return @rates;
}

# Top a queue up to the backlog: messages spread over its groups (round
# robin, so that each group has a line of messages) or its priorities.
sub top_up
{
	my ($q, $kind) = @_;
	my $have = live($q);
	my $need = $backlog - $have;
	while ($need > 0)
	{
		my $k = $need < 1000 ? $need : 1000;
		my $bodies = "ARRAY(SELECT jsonb_build_object('n', i) FROM generate_series(1, $k) i)";
		if ($kind eq 'groups')
		{
			sql("SELECT count(*) FROM mq_send_batch('$q', $bodies, group_ids =>"
				. " ARRAY(SELECT 'g' || ((i + (random() * $groups)::int) % $groups) FROM generate_series(1, $k) i))");
		}
		elsif ($kind eq 'priority')
		{
			sql("SELECT count(*) FROM generate_series(0, 9) p,"
				. " LATERAL mq_send_batch('$q', $bodies, priority => p)") if $k >= 1000;
			sql("SELECT count(*) FROM mq_send_batch('$q', $bodies, priority => 5)") if $k < 1000;
			$k = $k >= 1000 ? 10 * $k : $k;
		}
		else
		{
			sql("SELECT count(*) FROM mq_send_batch('$q', $bodies)");
		}
		$need -= $k;
	}
	sql("VACUUM ANALYZE mq.q_$q", "VACUUM ANALYZE mq.p_$q", "CHECKPOINT");
}

my %ratio;
my %rate;
sql("CREATE EXTENSION IF NOT EXISTS mq");
for my $q (qw(ob_plain ob_groups ob_blocked ob_prio))
{
	sql("SELECT mq_drop('$q')", "SELECT mq_create('$q', visibility_timeout => '1 hour')");
}
# the blocked groups: 10,000 heads leased for an hour, one message behind each
sql("SELECT count(*) FROM mq_send_batch('ob_blocked', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, $groups)),"
	. " group_ids => ARRAY(SELECT 'b' || i FROM generate_series(1, $groups) i))");
sql("SELECT count(*) FROM mq_send_batch('ob_blocked', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, $groups)),"
	. " group_ids => ARRAY(SELECT 'b' || i FROM generate_series(1, $groups) i))");
sql("SELECT count(*) FROM mq_read('ob_blocked', 10000, visibility_timeout => '1 hour')");
$backlog += 2 * $groups;
top_up('ob_blocked', 'groups');
$backlog -= 2 * $groups;

for my $round (1 .. $rounds)
{
	for my $case (['groups', 'ob_groups'], ['blocked', 'ob_blocked'], ['priority', 'ob_prio'])
	{
		my ($name, $q) = @$case;
		if ($name eq 'blocked') { $backlog += 2 * $groups; }
		top_up($q, $name eq 'priority' ? 'priority' : 'groups');
		if ($name eq 'blocked') { $backlog -= 2 * $groups; }
		top_up('ob_plain', 'plain');
		my ($a, $b) = consume_pair($q, 'ob_plain');
		push @{$rate{$name}{$q}}, $a;
		push @{$rate{$name}{plain}}, $b;
		push @{$ratio{$name}}, $a / $b;
		printf STDERR "round %d %-8s %8.0f msg/s, plain %8.0f msg/s, ratio %.2f\n",
			$round, $name, $a, $b, $a / $b;
	}
}

print "\nscenario (2 clients, read 1 + ack, synchronous_commit=$sync)       msg/s  plain msg/s  ratio  target\n";
my %target = (groups => '>= 0.8', blocked => '>= 0.8', priority => '>= 0.9');
my %label = (groups => '10,000 groups vs ungrouped',
			 blocked => '10,000 groups + 10,000 heads in flight vs ungrouped',
			 priority => '10 priority levels vs no priorities');
for my $name (qw(groups blocked priority))
{
	my ($q) = grep { $_ ne 'plain' } keys %{$rate{$name}};
	printf "%-64s %6.0f %12.0f %6.2f  %s\n", $label{$name}, median(@{$rate{$name}{$q}}),
		median(@{$rate{$name}{plain}}), median(@{$ratio{$name}}), $target{$name};
}
