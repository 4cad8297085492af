/*
 * latency.c: how long after a sender commits does a waiting reader return?
 *
 * A reader thread calls mq_read(queue, wait => '10 s') and blocks.  Once
 * pg_stat_activity shows its backend sleeping (wait_event_type Extension),
 * the main thread sends one message in a transaction and commits it.
 * Times, all CLOCK_MONOTONIC in this one process:
 *
 *   t0  just before COMMIT is sent (the message is written, not committed)
 *   t1  when COMMIT has returned to the sender
 *   t2  when the reader's result has arrived
 *
 * It reports t2 - t0 ("commit -> reader": the whole commit, WAL flush
 * included, plus the wake-up and the reader's read) and t2 - t1 (how long
 * after the sender learns of its commit the reader has the message; may be
 * negative, since the reader is woken before the sender's COMMIT returns),
 * and for reference t1 - t0, the sender's COMMIT alone.
 * The reader acks each message outside the timed window.
 *
 * Build (libpq headers from libpq-dev):
 *   cc -O2 -Wall -o bench/latency bench/latency.c \
 *      -I$(pg_config --includedir) -L$(pg_config --libdir) -lpq -lpthread
 * Run (connection from PG* variables or the first argument):
 *   bench/latency [-n rounds] [-q queue] [-s on|off] [-r on|off] [-d ms] [conninfo]
 * -s sets synchronous_commit for the sender, -r for the reader (whose read
 * commits its lease before the result reaches the client, so with "on" it
 * waits for a WAL flush of its own); both default to the server's setting.
 * -d lets the reader sleep that long before each send (without preload,
 * where readers poll with a growing interval, the figure depends on it).  The queue is created if
 * missing and purged first.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

static const char *conninfo = "";
static const char *queue = "bench_latency";
static const char *sync_commit = NULL;	/* the sender's */
static const char *reader_sync_commit = NULL;
static int	rounds = 2000;
static int	idle_ms = 0;

static sem_t start_sem;
static sem_t done_sem;
static double reader_t2;
static int	reader_backend_pid;
static int	reader_failed;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static PGconn *
connect_or_die(void)
{
	PGconn	   *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
		exit(1);
	}
	return conn;
}

/* Run a statement with text parameters; die unless it succeeds. */
static PGresult *
run(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "\"%s\" failed: %s", sql, PQerrorMessage(conn));
		exit(1);
	}
	return res;
}

static void *
reader_main(void *arg)
{
	PGconn	   *conn = connect_or_die();
	const char *params[2] = {queue, NULL};
	int			i;

	if (reader_sync_commit)
	{
		const char *p[1] = {reader_sync_commit};

		PQclear(run(conn, "SELECT set_config('synchronous_commit', $1, false)", 1, p));
	}
	reader_backend_pid = PQbackendPID(conn);
	PQclear(run(conn, "PREPARE r AS SELECT msg_id FROM mq_read($1, wait => '10 s')",
				0, NULL));
	for (i = 0; i < rounds; i++)
	{
		PGresult   *res;
		char		id[32];

		sem_wait(&start_sem);
		if (!PQsendQueryPrepared(conn, "r", 1, params, NULL, NULL, 0))
		{
			fprintf(stderr, "send failed: %s", PQerrorMessage(conn));
			exit(1);
		}
		res = PQgetResult(conn);
		reader_t2 = now_ms();
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		{
			fprintf(stderr, "read returned %s, %d rows: %s",
					PQresStatus(PQresultStatus(res)), PQntuples(res),
					PQerrorMessage(conn));
			reader_failed = 1;
			sem_post(&done_sem);
			return NULL;
		}
		snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		while ((res = PQgetResult(conn)) != NULL)
			PQclear(res);
		params[1] = id;
		PQclear(run(conn, "SELECT mq_ack($1, $2::bigint)", 2, params));
		params[1] = NULL;
		sem_post(&done_sem);
	}
	PQfinish(conn);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

static void
report(const char *what, double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	printf("%-25s p50 %7.3f ms  p90 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n",
		   what, v[n / 2], v[(int) (n * 0.90)], v[(int) (n * 0.99)], v[n - 1]);
}

int
main(int argc, char **argv)
{
	PGconn	   *writer;
	PGconn	   *monitor;
	pthread_t	reader;
	double	   *commit_to_reader;
	double	   *ack_to_reader;
	double	   *commit_time;
	char		pidbuf[16];
	const char *pidparam[1] = {pidbuf};
	const char *qparam[1];
	int			opt;
	int			i;

	while ((opt = getopt(argc, argv, "n:q:s:r:d:")) != -1)
	{
		switch (opt)
		{
			case 'n':
				rounds = atoi(optarg);
				break;
			case 'q':
				queue = optarg;
				break;
			case 's':
				sync_commit = optarg;
				break;
			case 'r':
				reader_sync_commit = optarg;
				break;
			case 'd':
				idle_ms = atoi(optarg);
				break;
			default:
				fprintf(stderr, "usage: %s [-n rounds] [-q queue] [-s on|off] [-r on|off] [-d ms] [conninfo]\n",
						argv[0]);
				return 2;
		}
	}
	if (optind < argc)
		conninfo = argv[optind];
	if (rounds < 1)
		rounds = 1;
	qparam[0] = queue;

	writer = connect_or_die();
	monitor = connect_or_die();
	PQclear(run(writer, "SET client_min_messages = warning", 0, NULL));
	PQclear(run(writer, "CREATE EXTENSION IF NOT EXISTS mq", 0, NULL));
	PQclear(run(writer, "SELECT mq_create($1)", 1, qparam));
	PQclear(run(writer, "SELECT mq_purge($1)", 1, qparam));
	if (sync_commit)
	{
		const char *p[1] = {sync_commit};

		PQclear(run(writer, "SELECT set_config('synchronous_commit', $1, false)", 1, p));
	}
	PQclear(run(writer, "PREPARE s AS SELECT mq_send($1, '{\"ping\": true}')", 0, NULL));
	PQclear(run(monitor, "PREPARE w AS SELECT count(*) FROM pg_stat_activity"
				" WHERE pid = $1 AND wait_event_type = 'Extension'", 0, NULL));

	commit_to_reader = malloc(sizeof(double) * rounds);
	ack_to_reader = malloc(sizeof(double) * rounds);
	commit_time = malloc(sizeof(double) * rounds);
	sem_init(&start_sem, 0, 0);
	sem_init(&done_sem, 0, 0);
	if (pthread_create(&reader, NULL, reader_main, NULL) != 0)
	{
		fprintf(stderr, "could not start the reader thread\n");
		return 1;
	}
	while (reader_backend_pid == 0)
		usleep(1000);
	snprintf(pidbuf, sizeof(pidbuf), "%d", reader_backend_pid);

	for (i = 0; i < rounds; i++)
	{
		double		t0;
		double		t1;
		int			polls = 0;

		sem_post(&start_sem);
		/* wait until the reader's backend sleeps in its wait */
		for (;;)
		{
			PGresult   *res = PQexecPrepared(monitor, "w", 1, pidparam, NULL, NULL, 0);
			int			sleeping = atoi(PQgetvalue(res, 0, 0));

			PQclear(res);
			if (sleeping)
				break;
			if (++polls > 100000)
			{
				fprintf(stderr, "the reader never started waiting\n");
				return 1;
			}
			usleep(200);
		}
		if (idle_ms > 0)
			usleep(idle_ms * 1000);

		PQclear(run(writer, "BEGIN", 0, NULL));
		PQclear(PQexecPrepared(writer, "s", 1, qparam, NULL, NULL, 0));
		t0 = now_ms();
		PQclear(run(writer, "COMMIT", 0, NULL));
		t1 = now_ms();
		sem_wait(&done_sem);
		if (reader_failed)
			return 1;
		commit_to_reader[i] = reader_t2 - t0;
		ack_to_reader[i] = reader_t2 - t1;
		commit_time[i] = t1 - t0;
	}
	pthread_join(reader, NULL);

	printf("%d round trips, queue %s, synchronous_commit: sender %s, reader %s,"
		   " reader idle %d ms before each send\n",
		   rounds, queue, sync_commit ? sync_commit : "default",
		   reader_sync_commit ? reader_sync_commit : "default", idle_ms);
	report("commit -> reader", commit_to_reader, rounds);
	report("commit returned -> reader", ack_to_reader, rounds);
	report("sender's COMMIT", commit_time, rounds);
	PQfinish(writer);
	PQfinish(monitor);
	return 0;
}
