/*-------------------------------------------------------------------------
 *
 * floor.c
 *	  The scan floor of a queue: a key (visible_at, msg_id) below which no
 *	  message can be leased, so that reads start their index scan there.
 *
 * Every message that has been acked or leased leaves dead entries behind
 * in the queue's index on (visible_at, msg_id) until vacuum removes them.
 * Reads walk that index from its start up to "now", so when vacuum cannot
 * keep up (a snapshot held open anywhere in the cluster keeps the entries
 * alive, or vacuum is off) every read walks past everything the queue has
 * delivered since, and the queue slows down in proportion to its history.
 * Each backend therefore keeps, per queue, a floor F below which no message
 * that a read could lease lies, and reads scan only from F.  F is a key of
 * the index, not just a time, so that the entries of a batch sent in one
 * call (which share a visible_at) are skipped too.
 *
 * F only moves up, and only to the least of (a time t standing for the
 * key (t, the least msg_id)):
 *  (1) the clock, read first;
 *  (2) the start of the statement every backend of this database is
 *      running: it may be inside an mq function that has read the clock for
 *      a visible_at and not yet written it;
 *  (3) the transaction start of every other transaction holding a lock on
 *      the queue's table that lets it write (its rows are not committed yet,
 *      and it wrote no visible_at earlier than its start), and of our own;
 *  (4) the least key of the messages that are not exhausted, in a
 *      snapshot taken after all of the above and blind to this
 *      transaction's own changes, so that a message this transaction has
 *      leased counts at the visible_at its rollback would restore.
 * Every visible_at mq writes (send, lease, nack, extend, redrive) is the
 * clock at the time of the call plus a delay, so a message that becomes
 * readable later was either in the snapshot of (4) or written by a
 * statement that (2) or (3) saw, or read the clock after (1).  The steps
 * must run in this order: a backend that (2) saw idle and that has since
 * written holds its lock at (3); one that took its lock after (3) read the
 * clock after (2).  When any of this cannot be known (a backend with
 * track_activities off, a prepared transaction holding the lock) F stays
 * where it is.
 *
 * Rows written into the table other than through mq's functions (COPY, a
 * logical replication apply worker) or a clock that steps back could still
 * land below F, so every MQ_FLOOR_RECHECK the search in (4) starts from the
 * beginning of the index again, and F is lowered if need be: such messages
 * are found within that time.  A cache entry that is rebuilt (any
 * invalidation of the queue's table, such as mq_alter or vacuum) starts
 * without a floor.
 *
 * F advances at most every MQ_FLOOR_INTERVAL, so a read walks at most that
 * much of the queue's recent history, and each advance walks only the
 * entries between the old floor and the new one.  No locks are taken:
 * the backend status array and the lock table are read the way
 * pg_stat_activity and CREATE INDEX CONCURRENTLY read them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "utils/backend_status.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "mq.h"

/* the least time between two advances of a floor */
#define MQ_FLOOR_INTERVAL	(10 * USECS_PER_SEC / 1000)

/* the time between two searches from the start of the index */
#define MQ_FLOOR_RECHECK	(10 * USECS_PER_SEC)

void
MqFloorReset(MqQueue *queue)
{
	queue->scan_floor = DT_NOBEGIN;
	queue->scan_floor_id = PG_INT64_MIN;
	queue->floor_advanced = 0;
	queue->floor_rechecked = 0;
}

/*
 * Steps (2) and (3) above: lower bound to the start of every statement or
 * transaction that may still write a visible_at into the table relid.
 * Returns DT_NOBEGIN when that cannot be known.
 */
static TimestampTz
mq_writers_bound(Oid relid, TimestampTz bound)
{
	int			nbackends;
	int			i;
	LOCKTAG		tag;
	VirtualTransactionId *holders;
	int			nholders;

	/* (2), from a fresh copy of the backend status array */
	pgstat_clear_backend_activity_snapshot();
	nbackends = pgstat_fetch_stat_numbackends();
	for (i = 1; i <= nbackends; i++)
	{
		PgBackendStatus *be = &pgstat_fetch_stat_local_beentry(i)->backendStatus;

		if (be->st_procpid == MyProcPid || be->st_databaseid != MyDatabaseId ||
			(be->st_backendType != B_BACKEND && be->st_backendType != B_BG_WORKER))
			continue;
		if (be->st_state == STATE_DISABLED)
			return DT_NOBEGIN;
		if (be->st_state == STATE_RUNNING || be->st_state == STATE_FASTPATH)
			bound = Min(bound, be->st_activity_start_timestamp);
		else if (be->st_state == STATE_UNDEFINED && be->st_xact_start_timestamp != 0)
		{
			/*
			 * A background worker that reports no activity may be inside
			 * an mq function all the same: bound by its transaction.
			 */
			bound = Min(bound, be->st_xact_start_timestamp);
		}
	}

	/* (3): ShareLock conflicts with RowExclusiveLock and every stronger mode */
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	holders = GetLockConflicts(&tag, ShareLock, &nholders);
	for (i = 0; i < nholders; i++)
	{
		PGPROC	   *proc;
		int			j;

		/* a prepared transaction: its start is not known */
		if (holders[i].backendId == InvalidBackendId)
			return DT_NOBEGIN;
		proc = BackendIdGetProc(holders[i].backendId);
		if (proc == NULL)
			continue;			/* gone, so its transaction has ended */
		for (j = 1; j <= nbackends; j++)
		{
			PgBackendStatus *be = &pgstat_fetch_stat_local_beentry(j)->backendStatus;

			if (be->st_procpid != proc->pid)
				continue;
			/*
			 * Vacuum writes no visible_at.  A backend that was not in a
			 * transaction when the status was read began this one later,
			 * after (1).
			 */
			if (be->st_backendType != B_AUTOVAC_WORKER &&
				be->st_xact_start_timestamp != 0)
				bound = Min(bound, be->st_xact_start_timestamp);
			break;
		}
	}
	return bound;
}

/*
 * Move the queue's floor up if it is time to.  Needs an MqBegin'd call (it
 * runs a statement through SPI).
 */
void
MqFloorAdvance(MqQueue *queue)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz bound;
	TimestampTz least = DT_NOEND;
	int64		least_id = PG_INT64_MIN;
	bool		recheck;
	Snapshot	snapshot;
	Datum		values[3];
	int			rc;

	if (now < queue->floor_advanced)
		MqFloorReset(queue);	/* the clock went back */
	if (now - queue->floor_advanced < MQ_FLOOR_INTERVAL)
		return;
	queue->floor_advanced = now;
	recheck = (now - queue->floor_rechecked >= MQ_FLOOR_RECHECK);

	/* (1) to (3) */
	bound = Min(now, GetCurrentTransactionStartTimestamp());
	bound = mq_writers_bound(queue->relid, bound);
	if (bound <= queue->scan_floor && !recheck)
		return;

	/* (4) */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	snapshot->curcid = FirstCommandId;	/* blind to our own changes */
	values[0] = TimestampTzGetDatum(recheck ? DT_NOBEGIN : queue->scan_floor);
	values[1] = Int64GetDatum(recheck ? PG_INT64_MIN : queue->scan_floor_id);
	values[2] = Int32GetDatum(queue->max_attempts);
	rc = SPI_execute_snapshot(MqPlan(queue, MQ_STMT_FLOOR), values, NULL,
							  snapshot, InvalidSnapshot, true, false, 1);
	UnregisterSnapshot(snapshot);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_snapshot failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		least = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull));
		least_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	}
	/* a waiting read advances the floor many times before SPI_finish */
	SPI_freetuptable(SPI_tuptable);

	/* the lesser of the keys (bound, least msg_id) and (least, least_id) */
	if (least < bound)
	{
		queue->scan_floor = least;
		queue->scan_floor_id = least_id;
	}
	else
	{
		queue->scan_floor = bound;
		queue->scan_floor_id = PG_INT64_MIN;
	}
	if (recheck)
		queue->floor_rechecked = now;
}
