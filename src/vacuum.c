/*-------------------------------------------------------------------------
 *
 * vacuum.c
 *	  Vacuum of queue tables that churn faster than autovacuum visits them.
 *
 * Every message leaves dead row versions behind (its lease is an update,
 * its ack a delete).  The queue tables ask autovacuum to act after 1% of
 * their rows change, but autovacuum comes to a database once every
 * autovacuum_naptime (a minute) and throttles itself, and a queue that
 * consumes thousands of messages a second leaves hundreds of thousands of
 * dead rows in that time, which grow the table and slow every read of the
 * queue head.
 *
 * So at the end of each pass the worker (worker.c) hands the live and
 * retained tables of its queues to MqVacuumPass, which picks those whose
 * dead rows exceed mq.vacuum_threshold + mq.vacuum_scale_factor * live
 * rows and starts a short-lived background worker, "mq vacuum", that runs
 * VACUUM (SKIP_LOCKED) on them and exits.  Vacuuming in a process of its
 * own matters: vacuuming a busy queue's indexes waits for the readers' page
 * pins and can take a second or more, during which the worker must go on
 * dead-lettering on time.  There is at most one such process per worker;
 * if no background worker slot is free, the tables wait for the next pass.
 *
 * A vacuum cannot remove rows that an open snapshot may still see.  When
 * MqVacuumPoll finds the vacuum process gone and a table it vacuumed still
 * over the limit, it backs off: no vacuum of that table for 5 s, then 10 s,
 * and so on up to 5 minutes, until a vacuum helps again.
 *
 * The worker terminates its vacuum process when it leaves the database
 * (MqVacuumStop), so that DROP DATABASE is not kept waiting by it either.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mq.h"

/* tables one vacuum process takes (its arguments must fit in bgw_extra) */
#define MQ_VACUUM_MAX_RELS			16
/* after a vacuum in vain, wait this long before the next, doubling up to max */
#define MQ_VACUUM_BACKOFF_MIN_MS	5000
#define MQ_VACUUM_BACKOFF_MAX_MS	300000

#if PG_VERSION_NUM >= 160000
#define MQ_DEAD_TUPLES(tab) ((tab)->dead_tuples)
#define MQ_LIVE_TUPLES(tab) ((tab)->live_tuples)
#else
#define MQ_DEAD_TUPLES(tab) ((tab)->n_dead_tuples)
#define MQ_LIVE_TUPLES(tab) ((tab)->n_live_tuples)
#endif

/* What a vacuum process is told, in bgw_extra. */
typedef struct MqVacuumArgs
{
	Oid			dboid;
	int			nrels;
	Oid			relids[MQ_VACUUM_MAX_RELS];
} MqVacuumArgs;

StaticAssertDecl(sizeof(MqVacuumArgs) <= BGW_EXTRALEN,
				 "MqVacuumArgs must fit in bgw_extra");

/* What the worker remembers of a table it had vacuumed. */
typedef struct MqVacuumState
{
	Oid			relid;			/* hash key */
	TimestampTz retry_at;		/* after a vacuum in vain, not before */
	int			backoff_ms;		/* doubles with each vacuum in vain */
	bool		seen;			/* in the latest pass */
} MqVacuumState;

/* worker state */
static HTAB *vacuum_states = NULL;
static BackgroundWorkerHandle *vacuum_handle = NULL;
static MqVacuumArgs vacuum_running;

/* Dead rows beyond which a table is due for a vacuum. */
static double
mq_vacuum_limit(PgStat_StatTabEntry *tab)
{
	return (double) mq_vacuum_threshold +
		mq_vacuum_scale_factor * (double) MQ_LIVE_TUPLES(tab);
}

static MqVacuumState *
mq_vacuum_state(Oid relid)
{
	bool		found;
	MqVacuumState *state;

	if (vacuum_states == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MqVacuumState);
		vacuum_states = hash_create("mq vacuum states", 16, &ctl,
									HASH_ELEM | HASH_BLOBS);
	}
	state = hash_search(vacuum_states, &relid, HASH_ENTER, &found);
	if (!found)
	{
		state->retry_at = 0;
		state->backoff_ms = 0;
	}
	return state;
}

/*
 * If the vacuum process has ended, judge what it did: a table it left over
 * the limit (an old snapshot still needs those rows) is not vacuumed again
 * until its backoff runs out.  Called by the worker between passes, outside
 * any transaction.
 */
void
MqVacuumPoll(void)
{
	pid_t		pid;
	TimestampTz now;
	int			i;

	if (vacuum_handle == NULL ||
		GetBackgroundWorkerPid(vacuum_handle, &pid) != BGWH_STOPPED)
		return;
	pfree(vacuum_handle);
	vacuum_handle = NULL;

	now = GetCurrentTimestamp();
	StartTransactionCommand();
	pgstat_clear_snapshot();
	for (i = 0; i < vacuum_running.nrels; i++)
	{
		PgStat_StatTabEntry *tab = pgstat_fetch_stat_tabentry(vacuum_running.relids[i]);
		MqVacuumState *state = mq_vacuum_state(vacuum_running.relids[i]);

		if (tab != NULL && (double) MQ_DEAD_TUPLES(tab) > mq_vacuum_limit(tab))
		{
			state->backoff_ms = Min(Max(state->backoff_ms * 2, MQ_VACUUM_BACKOFF_MIN_MS),
									MQ_VACUUM_BACKOFF_MAX_MS);
			state->retry_at = TimestampTzPlusMilliseconds(now, state->backoff_ms);
		}
		else
		{
			state->backoff_ms = 0;
			state->retry_at = 0;
		}
	}
	CommitTransactionCommand();
}

/*
 * At the end of a pass: start a vacuum process for the tables of relids
 * (the queue tables of the database) that are due, unless one still runs.
 */
void
MqVacuumPass(List *relids)
{
	MqVacuumArgs args;
	BackgroundWorker worker;
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS status;
	MqVacuumState *state;
	ListCell   *lc;

	if (vacuum_handle != NULL)
		return;

	memset(&args, 0, sizeof(args));
	args.dboid = MyDatabaseId;

	if (vacuum_states != NULL)
	{
		hash_seq_init(&status, vacuum_states);
		while ((state = hash_seq_search(&status)) != NULL)
			state->seen = false;
	}
	StartTransactionCommand();
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		PgStat_StatTabEntry *tab = pgstat_fetch_stat_tabentry(relid);

		state = mq_vacuum_state(relid);
		state->seen = true;
		if (tab != NULL && (double) MQ_DEAD_TUPLES(tab) > mq_vacuum_limit(tab) &&
			now >= state->retry_at && args.nrels < MQ_VACUUM_MAX_RELS)
			args.relids[args.nrels++] = relid;
	}
	CommitTransactionCommand();

	/* forget the tables of queues that are gone */
	if (vacuum_states != NULL)
	{
		hash_seq_init(&status, vacuum_states);
		while ((state = hash_seq_search(&status)) != NULL)
		{
			if (!state->seen)
				hash_search(vacuum_states, &state->relid, HASH_REMOVE, NULL);
		}
	}

	if (args.nrels == 0)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "mq", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "MqVacuumMain", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "mq vacuum", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "mq vacuum", BGW_MAXLEN);
	memcpy(worker.bgw_extra, &args, sizeof(args));
	/* the worker wakes when it ends, to judge it */
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &vacuum_handle))
	{
		ereport(DEBUG1,
				(errmsg_internal("no background worker slot for an mq vacuum")));
		vacuum_handle = NULL;
		return;
	}
	vacuum_running = args;
}

/* Terminate the vacuum process, if any (the worker is leaving). */
void
MqVacuumStop(void)
{
	if (vacuum_handle != NULL)
		TerminateBackgroundWorker(vacuum_handle);
}

/* VACUUM (SKIP_LOCKED) one table, as if a client had asked for it. */
static void
mq_vacuum_rel(Oid relid, MemoryContext cxt)
{
	MemoryContext oldcxt;
	VacuumStmt *stmt;
	ParseState *pstate;
	char	   *relname;

	/* the statement must outlive the transactions VACUUM commits */
	oldcxt = MemoryContextSwitchTo(cxt);
	stmt = makeNode(VacuumStmt);
	stmt->options = list_make1(makeDefElem("skip_locked", (Node *) makeBoolean(true), -1));
	stmt->rels = list_make1(makeVacuumRelation(NULL, relid, NIL));
	stmt->is_vacuumcmd = true;
	pstate = make_parsestate(NULL);
	MemoryContextSwitchTo(oldcxt);

	StartTransactionCommand();
	relname = get_rel_name(relid);
	if (relname != NULL)
	{
		pgstat_report_activity(STATE_RUNNING,
							   psprintf("vacuuming %s",
										quote_qualified_identifier(MQ_SCHEMA, relname)));
		PortalContext = cxt;
		ExecVacuum(pstate, stmt, true);
	}
	/* else dropped since the worker looked */
	CommitTransactionCommand();
	MemoryContextReset(cxt);
}

/* The vacuum process: vacuum the tables it was given, then exit. */
void
MqVacuumMain(Datum main_arg)
{
	MqVacuumArgs args;
	MemoryContext cxt;
	int			i;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);
	pgstat_report_appname("mq vacuum");

	cxt = AllocSetContextCreate(TopMemoryContext, "mq vacuum", ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < args.nrels; i++)
	{
		CHECK_FOR_INTERRUPTS();
		mq_vacuum_rel(args.relids[i], cxt);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}
