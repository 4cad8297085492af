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
 * Priority levels.  A queue with priorities is read through its index on
 * (priority DESC, visible_at, msg_id), where the dead entries of each level
 * lie at the start of that level's range: one floor for the whole queue
 * would be held back by the oldest message of the lowest level and skip
 * nothing where reads are.  So each backend keeps a floor F_p per level p
 * it knows of (up to MQ_MAX_LEVELS of them), computed as F is, with (4)
 * taken among the messages of level p: steps (1) to (3) bound every
 * visible_at written later whatever its level, and a message's priority
 * never changes while it is in the live table (a lease, nack or extend
 * changes its visible_at only; a send, a group's promotion or a redrive
 * writes a new row with a visible_at of the clock plus a delay), so the
 * argument above holds level by level.  A read then searches the known
 * levels from their floors and every range of priorities between them
 * (and above and below them) whole (stmt.c): a level this backend has not
 * seen yet, sent by another session a moment ago, is found in its range,
 * only without a floor; the next advance adds it to the levels known.  A
 * range search is bounded on both sides by priority, so it walks only the
 * entries of levels the backend does not know.  Known levels stay known
 * until the cache entry is rebuilt (an empty level costs a read one index
 * descent); beyond MQ_MAX_LEVELS, levels stay in the ranges.  Each advance
 * is one statement (MQ_STMT_LEVELS), fetched range by range from the top
 * down to the first level with a readable message: an index descent each.
 * A recheck (every MQ_FLOOR_RECHECK) fetches every range, whatever it
 * finds readable above, so that every known level is searched from its
 * start: at most 2 * MQ_MAX_LEVELS + 1 descents every MQ_FLOOR_RECHECK.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "direct.h"
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
	queue->nlevels = 0;
}

/*
 * The ranges of priorities a read of a queue with priorities searches, in
 * the order it searches them: each level known, from its floor (from the
 * start when recheck), and each range of levels between them, whole.
 * Arrays of 2 * MQ_MAX_LEVELS + 1 elements; returns their number.
 */
static int
mq_level_ranges(MqQueue *queue, bool recheck, Datum *hi, Datum *lo,
				Datum *floor, Datum *floor_id)
{
	int32		top = PG_INT16_MAX;
	int			n = 0;
	int			i;

	for (i = 0; i <= queue->nlevels; i++)
	{
		int32		level = i < queue->nlevels ? queue->levels[i] : PG_INT16_MIN - 1;

		if (level < top)
		{
			hi[n] = Int32GetDatum(top);
			lo[n] = Int32GetDatum(level + 1);
			floor[n] = TimestampTzGetDatum(DT_NOBEGIN);
			floor_id[n] = Int64GetDatum(PG_INT64_MIN);
			n++;
		}
		if (i == queue->nlevels)
			break;
		hi[n] = lo[n] = Int32GetDatum(level);
		floor[n] = TimestampTzGetDatum(recheck ? DT_NOBEGIN : queue->level_floor[i]);
		floor_id[n] = Int64GetDatum(recheck ? PG_INT64_MIN : queue->level_floor_id[i]);
		n++;
		top = level - 1;
	}
	return n;
}

/* ... as a read searches them now (direct.c) */
int
MqLevelRanges(MqQueue *queue, Datum *hi, Datum *lo, Datum *floor, Datum *floor_id)
{
	return mq_level_ranges(queue, false, hi, lo, floor, floor_id);
}

static Datum
mq_array(Datum *elems, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, type, typlen, typbyval, typalign));
}

/*
 * The last four parameters of a read or pop of a queue with priorities:
 * the arrays of its ranges (stmt.c).
 */
void
MqLevelsArgs(MqQueue *queue, Datum *values, char *nulls)
{
	Datum		hi[2 * MQ_MAX_LEVELS + 1];
	Datum		lo[2 * MQ_MAX_LEVELS + 1];
	Datum		floor[2 * MQ_MAX_LEVELS + 1];
	Datum		floor_id[2 * MQ_MAX_LEVELS + 1];
	int			n = mq_level_ranges(queue, false, hi, lo, floor, floor_id);

	values[0] = mq_array(hi, n, INT4OID);
	values[1] = mq_array(lo, n, INT4OID);
	values[2] = mq_array(floor, n, TIMESTAMPTZOID);
	values[3] = mq_array(floor_id, n, INT8OID);
	memset(nulls, ' ', 4);
}

/*
 * Step (4) level by level, and the levels found in the ranges between
 * those known: see "Priority levels" above.  The ranges are fetched one by
 * one, highest first, down to the first level with a message readable now:
 * a read goes no further unless that level runs out, and the floors below
 * stay where they were (lower than need be, never too high).  A recheck
 * fetches every range, from the start of each level: a row written below
 * the floor of a level under the first readable one (which may stay
 * readable for good, held in another session's open read) is found too.
 */
static void
mq_levels_advance(MqQueue *queue, TimestampTz now, TimestampTz bound, bool recheck)
{
	Datum		values[5];
	Datum		hi[2 * MQ_MAX_LEVELS + 1];
	Datum		lo[2 * MQ_MAX_LEVELS + 1];
	Datum		floor[2 * MQ_MAX_LEVELS + 1];
	Datum		floor_id[2 * MQ_MAX_LEVELS + 1];
	int16		found[2 * MQ_MAX_LEVELS + 1];
	int			nfound = 0;
	int			n = mq_level_ranges(queue, recheck, hi, lo, floor, floor_id);
	Snapshot	snapshot;
	Portal		portal;
	int			level = 0;
	int			i;

	values[0] = mq_array(hi, n, INT4OID);
	values[1] = mq_array(lo, n, INT4OID);
	values[2] = mq_array(floor, n, TIMESTAMPTZOID);
	values[3] = mq_array(floor_id, n, INT8OID);
	values[4] = Int32GetDatum(queue->max_attempts);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	snapshot->curcid = FirstCommandId;	/* blind to our own changes */
	/* a read-only cursor runs in the active snapshot */
	PushActiveSnapshot(snapshot);
	portal = SPI_cursor_open(NULL, MqPlan(queue, MQ_STMT_LEVELS), values, NULL, true);
	PopActiveSnapshot();

	for (;;)
	{
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;
		bool		none;
		int32		rhi;
		int32		rlo;
		int32		p;
		TimestampTz least;

		SPI_cursor_fetch(portal, true, 1);
		if (SPI_processed == 0)
			break;
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		rhi = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		rlo = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		p = DatumGetInt32(SPI_getbinval(tup, desc, 3, &none));
		least = none ? DT_NOEND : DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
		if (rhi != rlo)
		{
			if (!none)
				found[nfound++] = (int16) p;
			SPI_freetuptable(SPI_tuptable);
			continue;
		}
		/* the ranges of known levels come in the order of queue->levels */
		Assert(level < queue->nlevels && queue->levels[level] == rhi);
		if (least < bound)
		{
			queue->level_floor[level] = least;
			queue->level_floor_id[level] =
				DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		}
		else
		{
			queue->level_floor[level] = bound;
			queue->level_floor_id[level] = PG_INT64_MIN;
		}
		level++;
		SPI_freetuptable(SPI_tuptable);
		/* readable now (unless exhausted meanwhile); a recheck goes on */
		if (least <= now && !recheck)
			break;
	}
	SPI_cursor_close(portal);
	UnregisterSnapshot(snapshot);
	for (i = 0; i < 4; i++)
		pfree(DatumGetPointer(values[i]));

	/* new levels, from their start until the next advance */
	for (i = 0; i < nfound && queue->nlevels < MQ_MAX_LEVELS; i++)
	{
		int			j = queue->nlevels;

		while (j > 0 && queue->levels[j - 1] < found[i])
		{
			queue->levels[j] = queue->levels[j - 1];
			queue->level_floor[j] = queue->level_floor[j - 1];
			queue->level_floor_id[j] = queue->level_floor_id[j - 1];
			j--;
		}
		queue->levels[j] = found[i];
		queue->level_floor[j] = DT_NOBEGIN;
		queue->level_floor_id[j] = PG_INT64_MIN;
		queue->nlevels++;
	}
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
	bool		found;
	Snapshot	snapshot;
	TimestampTz from;
	int64		from_id;
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
	if (queue->priorities)
	{
		/* nothing to be gained while the bound is unknown */
		if (bound != DT_NOBEGIN || recheck)
			mq_levels_advance(queue, now, bound, recheck);
		if (recheck)
			queue->floor_rechecked = now;
		return;
	}
	if (bound <= queue->scan_floor && !recheck)
		return;

	/* (4) */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	snapshot->curcid = FirstCommandId;	/* blind to our own changes */
	from = recheck ? DT_NOBEGIN : queue->scan_floor;
	from_id = recheck ? PG_INT64_MIN : queue->scan_floor_id;
	if (!MqDirectFloor(queue, snapshot, from, from_id, &least, &least_id, &found))
	{
		values[0] = TimestampTzGetDatum(from);
		values[1] = Int64GetDatum(from_id);
		values[2] = Int32GetDatum(queue->max_attempts);
		rc = SPI_execute_snapshot(MqPlan(queue, MQ_STMT_FLOOR), values, NULL,
								  snapshot, InvalidSnapshot, true, false, 1);
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
	}
	UnregisterSnapshot(snapshot);

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
