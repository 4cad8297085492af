/*
 * idle_waiters.c: hold many connections, each waiting in
 * mq_read(queue, wait => ...) on a queue nobody sends to, until killed.
 * Used by bench/idle_waiters.sh, which measures the CPU the waiting
 * backends use.  Closing the connections (when this program ends) ends
 * their waits: the backends notice that their client has gone.
 *
 * Build (libpq headers from libpq-dev):
 *   cc -O2 -Wall -o bench/idle_waiters bench/idle_waiters.c \
 *      -I$(pg_config --includedir) -L$(pg_config --libdir) -lpq
 * Run (connection from PG* variables or the last argument):
 *   bench/idle_waiters [-n connections] [-q queue] [-w wait] [conninfo]
 * It prints "waiting N" once every query has been sent, then sleeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpq-fe.h"

int
main(int argc, char **argv)
{
	int			n = 1000;
	const char *queue = "idle";
	const char *wait = "5 min";
	const char *conninfo = "";
	char		sql[256];
	PGconn	  **conns;
	int			c,
				i;

	while ((c = getopt(argc, argv, "n:q:w:")) != -1)
	{
		switch (c)
		{
			case 'n':
				n = atoi(optarg);
				break;
			case 'q':
				queue = optarg;
				break;
			case 'w':
				wait = optarg;
				break;
			default:
				fprintf(stderr, "usage: %s [-n connections] [-q queue] [-w wait] [conninfo]\n",
						argv[0]);
				return 2;
		}
	}
	if (optind < argc)
		conninfo = argv[optind];
	if (n < 1)
		n = 1;

	snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM mq_read('%s', wait => '%s')", queue, wait);
	conns = calloc(n, sizeof(PGconn *));
	for (i = 0; i < n; i++)
	{
		conns[i] = PQconnectdb(conninfo);
		if (PQstatus(conns[i]) != CONNECTION_OK)
		{
			fprintf(stderr, "connection %d: %s", i + 1, PQerrorMessage(conns[i]));
			return 1;
		}
		if (!PQsendQuery(conns[i], sql))
		{
			fprintf(stderr, "query %d: %s", i + 1, PQerrorMessage(conns[i]));
			return 1;
		}
	}
	printf("waiting %d\n", n);
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}
