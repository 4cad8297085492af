/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The worker: one background process per database where mq is installed,
 *	  which dead-letters expired last leases, purges expired retention and
 *	  has queue tables that churn vacuumed.
 *
 * A pass goes over every queue in mq.queue, each in its own transactions
 * (so that a queue whose tables are broken or locked holds up no other,
 * and no transaction grows with the number of queues):
 *
 * - EXPIRE moves to the dead letters, with reason 'max_attempts', messages
 *   on their last allowed attempt whose lease has ended.  The statement
 *   locks the rows it takes, skipping those another transaction holds, and
 *   checks them again once locked (stmt.c), so an ack, nack or new lease
 *   that commits first wins and the worker never overwrites it.  It finds
 *   them through a partial index that holds only exhausted messages, so its
 *   cost does not grow with the backlog of ready messages.
 *   A dead-lettered head of a group releases its group (order.c).
 * - RETENTION deletes acked messages kept longer than the queue's
 *   retention (all of them when retention is off).
 * - On the tables of 0.2, DEDUP_PURGE forgets dedup keys older than the
 *   queue's dedup_window, and GROUP_PURGE the rows of groups left empty.
 * - After the queues, it sends the messages of schedules that are due
 *   (schedule.c), each tick in the transaction that records it.
 * - NEXT_DUE tells when the next known last lease or retention period ends;
 *   the worker sleeps until then, or mq.worker_naptime at most (a lease
 *   granted meanwhile is found by the next pass).
 *
 * Each statement works on mq.worker_batch_size rows at most and commits;
 * the worker goes on while batches come back full.  After the queues it
 * has the queue tables whose dead rows exceed mq.vacuum_threshold vacuumed
 * by a process of their own (vacuum.c), and it flushes its statistics so
 * that autovacuum and that check see its deletes.  An error is logged with
 * the queue's name and the pass goes on with the next queue.
 *
 * Locks.  A worker holds, for its whole life, the worker lock of its
 * database: a session-level ExclusiveLock on an advisory lock tag of its
 * own, (dboid, 0x6d71, 0, 0x6d71), which pg_locks shows as an advisory lock
 * with classid 28017, objid 0 and objsubid 28017.  A second worker for the same
 * database (from mq_worker_start, or left over when a launcher restarted)
 * fails to take it and exits at once.  It is an advisory tag because an
 * aborted transaction releases the session locks of the ordinary lock
 * method (ProcReleaseLocks), so any error of a pass would drop a lock on an
 * object, while session advisory locks end only with pg_advisory_unlock_all
 * (which the worker never runs) or the process.  SQL cannot take or release
 * it: its last field is neither 1 nor 2, the values of pg_advisory_lock's
 * two forms.
 *
 * A backend connected to a database blocks DROP DATABASE, CREATE DATABASE
 * ... TEMPLATE, ALTER DATABASE ... RENAME and SET TABLESPACE, which wait
 * up to five seconds for other sessions to leave and then fail.  Those
 * commands first take the database's lock (ShareLock or AccessExclusiveLock
 * on the database object), which conflicts with the RowExclusiveLock every
 * session takes to connect.  So between passes, at least every second
 * (MQ_LEAVE_CHECK_MS), the worker asks for that RowExclusiveLock without
 * waiting; when it cannot have it, some command needs the database to
 * itself and the worker leaves.  A pass checks the same between batches, so
 * that a long backlog of dead letters does not hold such a command up.
 * The launcher starts a new worker once the
 * lock is free (and the database still exists); a worker started by
 * mq_worker_start registers its successor, which waits at connection for
 * the command to finish.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "mq.h"

/* how often, at least, a worker checks whether a command needs its database */
#define MQ_LEAVE_CHECK_MS	1000

/* A queue as one pass sees it (allocated in pass_cxt). */
typedef struct MqWorkerQueue
{
	char	   *name;
	char	   *activity;		/* what pg_stat_activity shows meanwhile */
	Oid			relids[2];		/* live and retained tables, once known */
} MqWorkerQueue;

/*
 * What a worker remembers of a queue from one pass to the next, to skip it
 * while it is idle: the change counter of its slot (due.c) when it last
 * looked, and when something it found there falls due.
 */
typedef struct MqWorkerState
{
	char		name[MQ_NAME_MAXLEN + 1];	/* hash key */
	uint32		slot;
	uint32		seen;
	TimestampTz next_check;		/* DT_NOEND: nothing known to come */
	Oid			relids[2];		/* live and retained tables, once known */
	uint64		pass;			/* the last pass that listed it */
} MqWorkerState;

/*
 * Queues looked at each pass whatever their state, in turn: the slow round
 * that finds work the counters cannot announce (a prepared transaction's).
 */
#define MQ_WORKER_ROUND		2

static MqWorkerArgs worker_args;
static HTAB *worker_states = NULL;
static uint64 worker_pass_count = 0;
static int	worker_round_start = 0;
static char worker_dbname[NAMEDATALEN];
static bool worker_serving = false;
static MemoryContext pass_cxt = NULL;

/* the key of the worker lock, "mq" in ASCII (see above) */
#define MQ_WORKER_LOCK_KEY	0x6d71

static void
mq_worker_locktag(LOCKTAG *tag, Oid dboid)
{
	SET_LOCKTAG_ADVISORY(*tag, dboid, MQ_WORKER_LOCK_KEY, 0, MQ_WORKER_LOCK_KEY);
}

/* Does some worker serve database dboid?  Takes no lock for long. */
bool
MqWorkerLockHeld(Oid dboid)
{
	LOCKTAG		tag;

	mq_worker_locktag(&tag, dboid);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, ExclusiveLock, true);
	return false;
}

/*
 * Does a command (DROP DATABASE and the like) need database dboid to
 * itself?  It then holds or awaits a lock that conflicts with the one every
 * session takes to connect.
 */
bool
MqDatabaseWanted(Oid dboid)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, dboid, 0);
	if (LockAcquire(&tag, RowExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, RowExclusiveLock, true);
	return false;
}

static void
mq_worker_atexit(int code, Datum arg)
{
	LOCKTAG		tag;

	mq_worker_locktag(&tag, MyDatabaseId);
	LockRelease(&tag, ExclusiveLock, true);
	MqVacuumStop();
}

/* Leave the database to a command that needs it to itself. */
static void
mq_worker_leave(void)
{
	ereport(LOG,
			(errmsg("mq worker leaving database \"%s\" for a command that needs it alone",
					worker_dbname)));
	if (!worker_args.managed)
	{
		/*
		 * No launcher will start a new worker, so register it now.  It waits
		 * at connection until the command is over, and then serves the
		 * database, or finds it dropped and ends.
		 */
		if (MqStartWorker(MyDatabaseId, worker_dbname, false, 0) == NULL)
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not register the next mq worker for database \"%s\"",
							worker_dbname),
					 errhint("Start one with mq_worker_start() later.")));
	}
	proc_exit(0);
}

/* The extension is not (or no longer) installed: end. */
static void
mq_worker_absent(void)
{
	if (worker_serving)
		ereport(LOG,
				(errmsg("mq worker leaving database \"%s\": extension mq was dropped",
						worker_dbname)));
	if (worker_args.managed)
		MqLauncherReportAbsent(MyDatabaseId);
	proc_exit(0);
}

static void
mq_worker_errcontext(void *arg)
{
	errcontext("mq worker, queue \"%s\"", (const char *) arg);
}

/*
 * Error recovery in a pass, as autovacuum does it: report, abort whatever
 * transaction is open (which also restores the user id and releases SPI),
 * and carry on.
 */
static void
mq_worker_recover(void)
{
	HOLD_INTERRUPTS();
	EmitErrorReport();
	AbortOutOfAnyTransaction();
	FlushErrorState();
	RESUME_INTERRUPTS();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* The queues of this database; ends the worker if mq is not installed. */
static List *
mq_worker_queues(void)
{
	List	   *queues = NIL;
	MemoryContext oldcxt;
	uint64		i;

	/* pg_stat_activity's xact_start and query_start come from this */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* the plans of queues dropped or altered since the last pass */
	MqCachePrune();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!OidIsValid(get_extension_oid("mq", true)))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		mq_worker_absent();
	}
	if (!worker_serving)
	{
		ereport(LOG, (errmsg("mq worker serving database \"%s\"", worker_dbname)));
		worker_serving = true;
	}

	/* query_start advances every pass, busy or not */
	pgstat_report_activity(STATE_RUNNING, "listing queues");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/*
	 * mq records no dependency on roles, so DROP ROLE of a grantee leaves
	 * its grants behind; remove them, so that a role created later with the
	 * same OID (after the OID counter wraps) inherits nothing.  Two small
	 * catalogs; a write only when a role was dropped.
	 */
	if (SPI_execute("DELETE FROM mq.grant g WHERE NOT EXISTS (SELECT FROM"
					" pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=)"
					" g.grantee::pg_catalog.oid) RETURNING queue_name",
					false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not remove the grants of dropped roles");
	if (SPI_processed > 0)
	{
		Oid			nspid = get_namespace_oid(MQ_SCHEMA, false);

		ereport(LOG,
				(errmsg("mq worker removed " UINT64_FORMAT " grant(s) of dropped roles in database \"%s\"",
						SPI_processed, worker_dbname)));
		/* backends reload those queues' grants, as after mq_revoke */
		for (i = 0; i < SPI_processed; i++)
		{
			char	   *name = SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1);
			Oid			relid = get_relname_relid(psprintf("q_%s", name), nspid);

			if (OidIsValid(relid))
				CacheInvalidateRelcacheByRelid(relid);
		}
	}
	if (SPI_execute("SELECT queue_name FROM mq.queue ORDER BY queue_name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the catalog of queues");

	oldcxt = MemoryContextSwitchTo(pass_cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		MqWorkerQueue *queue = palloc0(sizeof(MqWorkerQueue));

		queue->name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		queue->activity = psprintf("dead-lettering and purging queue \"%s\"",
								   queue->name);
		queues = lappend(queues, queue);
	}
	MemoryContextSwitchTo(oldcxt);

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return queues;
}

/* Bring *next forward to the next time something of queue falls due. */
static void
mq_worker_next_due(MqQueue *queue, TimestampTz now, TimestampTz *next)
{
	Datum		arg = TimestampTzGetDatum(now);
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		d;
	bool		isnull;

	MqExecute(queue, MQ_STMT_WORKER_DUE, &arg, NULL, 1);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	d = SPI_getbinval(tup, desc, 1, &isnull);
	if (!isnull)
	{
		TimestampTz due = DatumGetTimestampTz(d);

		/* one that is due already (its row was locked) waits for the next pass */
		*next = Min(*next, due > now ? due :
					TimestampTzPlusMilliseconds(now, mq_worker_naptime));
	}

	d = SPI_getbinval(tup, desc, 2, &isnull);
	if (!isnull)
	{
		TimestampTz due = DatumGetTimestampTz(d);

		if (queue->has_retention)
			due = MqAddUsecs(due, queue->retention);
		/* one that is due already waits for the next pass, not a busy loop */
		*next = Min(*next, due > now ? due :
					TimestampTzPlusMilliseconds(now, mq_worker_naptime));
	}
}

/*
 * One transaction of work on a queue: a batch of dead letters and one of
 * purged acks.  Returns true if a batch came back full, so there may be
 * more.
 */
static bool
mq_worker_queue_batch(MqWorkerQueue *wq, TimestampTz *next)
{
	MqCall		call;
	MqQueue    *queue;
	Oid			relid;
	bool		more = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, wq->activity);

	MqBegin(&call, NULL, 0, true);

	/*
	 * Lock the live table first, as the statements would, so that a queue
	 * dropped meanwhile is seen gone rather than failing halfway; skip it
	 * this pass if mq_drop or mq_alter holds it.
	 */
	relid = RangeVarGetRelidExtended(makeRangeVar(MQ_SCHEMA, psprintf("q_%s", wq->name), -1),
									 RowExclusiveLock, RVR_MISSING_OK | RVR_SKIP_LOCKED,
									 NULL, NULL);
	queue = OidIsValid(relid) ? MqLookup(&call, wq->name, true) : NULL;
	if (queue != NULL)
	{
		TimestampTz now = GetCurrentTimestamp();
		Datum		values[2];
		uint64		expired,
					purged;

		wq->relids[0] = queue->relid;
		wq->relids[1] = get_relname_relid(psprintf("a_%s", wq->name), call.nspid);

		values[0] = TimestampTzGetDatum(now);
		values[1] = Int32GetDatum(mq_worker_batch_size);
		MqExecute(queue, MQ_STMT_EXPIRE, values, NULL, 0);
		expired = SPI_processed;
		MqStatsExpired(queue, expired);
		/* producers waiting in mq_status learn of the dead letters */
		if (expired > 0)
			MqWakeupRegister(queue, MQ_WAKE_STATUS_ON_COMMIT);
		if (expired > 0 && queue->v2)
		{
			char	  **groups = palloc0(sizeof(char *) * (expired + 1));
			uint64		i;

			for (i = 0; i < expired; i++)
				groups[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			for (i = 0; i < expired; i++)
			{
				if (groups[i] != NULL)
					MqGroupRelease(queue, groups[i], -1);
			}
		}
		if (queue->v2)
		{
			values[0] = TimestampTzGetDatum(MqAddUsecs(now, -queue->dedup_window));
			MqExecute(queue, MQ_STMT_DEDUP_PURGE, values, NULL, 0);
			more = (SPI_processed >= (uint64) mq_worker_batch_size);
			MqExecute(queue, MQ_STMT_GROUP_PURGE, &values[1], NULL, 0);
			more = more || (SPI_processed >= (uint64) mq_worker_batch_size);
		}

		values[0] = TimestampTzGetDatum(queue->has_retention ?
										MqAddUsecs(now, -queue->retention) : now);
		MqExecute(queue, MQ_STMT_RETENTION, values, NULL, 0);
		purged = SPI_processed;

		if (expired > 0 || purged > 0)
			ereport(DEBUG1,
					(errmsg_internal("mq worker: queue \"%s\": " UINT64_FORMAT
									 " dead-lettered, " UINT64_FORMAT " purged",
									 wq->name, expired, purged)));

		more = (more || expired >= (uint64) mq_worker_batch_size ||
				purged >= (uint64) mq_worker_batch_size);
		if (!more)
			mq_worker_next_due(queue, now, next);
	}
	MqEnd(&call);

	PopActiveSnapshot();
	CommitTransactionCommand();
	return more;
}

/* Work on one queue; false if that failed. */
static bool
mq_worker_queue(MqWorkerQueue *wq, TimestampTz *next)
{
	ErrorContextCallback errcb;
	bool		ok = true;

	errcb.callback = mq_worker_errcontext;
	errcb.arg = wq->name;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	PG_TRY();
	{
		/* a stream's retention is by whole segments (stream.c) */
		if (!MqStreamMaintain(wq->name, next))
		{
			while (mq_worker_queue_batch(wq, next))
			{
				CHECK_FOR_INTERRUPTS();
				if (MqDatabaseWanted(MyDatabaseId))
					mq_worker_leave();
			}
		}
	}
	PG_CATCH();
	{
		mq_worker_recover();
		ok = false;
	}
	PG_END_TRY();

	error_context_stack = errcb.previous;
	return ok;
}

/* One pass over every queue.  Returns when the next one is due. */
static TimestampTz
mq_worker_pass(TimestampTz start)
{
	TimestampTz next = TimestampTzPlusMilliseconds(start, mq_worker_naptime);
	List	   *queues;
	ListCell   *lc;
	int			nqueues;
	int			i = 0;
	HASH_SEQ_STATUS status;
	MqWorkerState *st;

	MemoryContextReset(pass_cxt);
	worker_pass_count++;

	queues = mq_worker_queues();
	nqueues = list_length(queues);
	foreach(lc, queues)
	{
		MqWorkerQueue *wq = lfirst(lc);
		TimestampTz now = GetCurrentTimestamp();
		bool		found;

		st = hash_search(worker_states, wq->name, HASH_ENTER, &found);
		if (!found)
		{
			st->slot = MqDueSlot(MyDatabaseId, wq->name);
			st->relids[0] = st->relids[1] = InvalidOid;
		}
		st->pass = worker_pass_count;

		/*
		 * Look at a queue that is new, has something due, or had work made
		 * since the last look (read the counter before the transaction that
		 * looks); and at a few others in turn.
		 */
		if (!found || !MqDueAvailable() || now >= st->next_check ||
			MqDueChanges(st->slot) != st->seen ||
			(i - worker_round_start + nqueues) % nqueues < MQ_WORKER_ROUND)
		{
			TimestampTz qnext = DT_NOEND;

			if (MqDueAvailable())
				st->seen = MqDueChanges(st->slot);
			if (!mq_worker_queue(wq, &qnext))
				qnext = TimestampTzPlusMilliseconds(now, mq_worker_naptime);
			st->next_check = qnext;
			if (OidIsValid(wq->relids[0]))
				memcpy(st->relids, wq->relids, sizeof(st->relids));
			CHECK_FOR_INTERRUPTS();
			if (MqDatabaseWanted(MyDatabaseId))
				mq_worker_leave();
		}
		next = Min(next, st->next_check);
		i++;
	}
	if (nqueues > 0)
		worker_round_start = (worker_round_start + MQ_WORKER_ROUND) % nqueues;

	/* the schedules that are due (0.2; schedule.c) */
	PG_TRY();
	{
		MqScheduleRun(&next);
	}
	PG_CATCH();
	{
		mq_worker_recover();
	}
	PG_END_TRY();

	/* forget dropped queues; gather the tables to consider for vacuum */
	{
		List	   *relids = NIL;
		MemoryContext oldcxt = MemoryContextSwitchTo(pass_cxt);

		hash_seq_init(&status, worker_states);
		while ((st = hash_seq_search(&status)) != NULL)
		{
			if (st->pass != worker_pass_count)
			{
				hash_search(worker_states, st->name, HASH_REMOVE, NULL);
				continue;
			}
			if (OidIsValid(st->relids[0]))
				relids = lappend_oid(relids, st->relids[0]);
			if (OidIsValid(st->relids[1]))
				relids = lappend_oid(relids, st->relids[1]);
		}
		MemoryContextSwitchTo(oldcxt);
		if (mq_vacuum_threshold >= 0)
			MqVacuumPass(relids);
	}

	pgstat_report_activity(STATE_IDLE, NULL);
	return next;
}

static void
mq_worker_loop(void)
{
	TimestampTz next_pass = 0;

	for (;;)
	{
		TimestampTz now;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			next_pass = 0;
		}
		if (!mq_worker_enabled)
		{
			ereport(LOG,
					(errmsg("mq worker leaving database \"%s\": mq.worker_enabled is off",
							worker_dbname)));
			proc_exit(0);
		}
		if (MqDatabaseWanted(MyDatabaseId))
			mq_worker_leave();
		MqVacuumPoll();

		now = GetCurrentTimestamp();
		/* never true, as workers start after recovery; but never write there */
		if (RecoveryInProgress())
			next_pass = TimestampTzPlusMilliseconds(now, mq_worker_naptime);
		else if (now >= next_pass)
		{
			PG_TRY();
			{
				next_pass = mq_worker_pass(now);
			}
			PG_CATCH();
			{
				mq_worker_recover();
				next_pass = TimestampTzPlusMilliseconds(now, mq_worker_naptime);
			}
			PG_END_TRY();
		}

		/* background workers must send their statistics themselves */
		pgstat_report_stat(false);

		now = GetCurrentTimestamp();
		timeout = next_pass <= now ? 0 :
			(long) Min((next_pass - now + 999) / 1000, (int64) MQ_LEAVE_CHECK_MS);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

void
MqWorkerMain(Datum main_arg)
{
	LOCKTAG		tag;

	memcpy(&worker_args, MyBgworkerEntry->bgw_extra, sizeof(worker_args));

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(worker_args.dboid, InvalidOid, 0);
	pgstat_report_appname("mq worker");

	StartTransactionCommand();
	strlcpy(worker_dbname, get_database_name(MyDatabaseId), NAMEDATALEN);
	CommitTransactionCommand();

	mq_worker_locktag(&tag, MyDatabaseId);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		ereport(DEBUG1,
				(errmsg_internal("another mq worker serves database \"%s\"",
								 worker_dbname)));
		proc_exit(0);
	}
	/*
	 * Nothing releases a session lock at exit but its holder; and a vacuum
	 * the worker started must not keep its database busy after it.
	 */
	before_shmem_exit(mq_worker_atexit, (Datum) 0);

	pass_cxt = AllocSetContextCreate(TopMemoryContext, "mq worker pass",
									 ALLOCSET_DEFAULT_SIZES);
	{
		HASHCTL		ctl;

		ctl.keysize = MQ_NAME_MAXLEN + 1;
		ctl.entrysize = sizeof(MqWorkerState);
		worker_states = hash_create("mq worker queues", 64, &ctl,
									HASH_ELEM | HASH_STRINGS);
	}

	mq_worker_loop();
}
