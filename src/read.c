/*-------------------------------------------------------------------------
 *
 * read.c
 *	  mq_read (lease messages) and mq_pop (take them, at-most-once).
 *
 * Both pick the oldest visible messages with FOR UPDATE SKIP LOCKED, so
 * consumers never wait for one another: a row another transaction has
 * leased (and not yet committed) or acked is skipped.  mq_read updates the
 * rows it takes (attempt + 1, visible_at = lease end), which is the lease;
 * it rolls back with the reader's transaction.  Messages on their last
 * attempt whose lease expired are never returned (attempt < max_attempts).
 *
 * mq_read can wait for messages: see mq_read below, wakeup.c and
 * docs/wait.md.  While it waits it holds what its first read took (the
 * statement's snapshot, RowExclusiveLock on the live table, the SPI
 * connection) and nothing else: no transaction ID, unless the caller's
 * transaction already had one, and no row locks.
 *
 * A paused queue delivers nothing: reads and pops return no rows, and a
 * waiting read waits on (mq_alter's commit wakes it, and it rereads the
 * options).  With a rate limit, a read or pop takes tokens from the
 * queue's bucket first (rate.c) and reads at most that many, and gives back
 * those it did not use; a waiting read with no token sleeps until the next
 * one.  A queue with priorities reads through its priority index; a pop of
 * a group's head releases the group (order.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "direct.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_read);
PG_FUNCTION_INFO_V1(mq_pop);

/*
 * The wait argument of func in microseconds: at most mq.max_wait, and only
 * where a new snapshot can see what others commit during the wait.
 */
int64
MqWaitArg(FunctionCallInfo fcinfo, int argno, const char *func)
{
	int64		wait;

	MqArgNotNull(fcinfo, argno, "wait");
	wait = MqIntervalUsecs(PG_GETARG_DATUM(argno), "wait", true);
	if (wait > (int64) mq_max_wait * 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait must not exceed mq.max_wait"),
				 errdetail("mq.max_wait is %s.",
						   GetConfigOptionByName("mq.max_wait", NULL, false)),
				 errhint("Read again when the wait ends.")));
	if (wait > 0 && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot wait in a %s transaction", func,
						IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("The transaction's snapshot never sees changes committed after it was taken."),
				 errhint("Call it with wait => '0', or wait in a READ COMMITTED transaction.")));
	return wait;
}

/*
 * Lease up to qty readable messages; returns how many, their rows in
 * *rows.  SPI takes a new snapshot for each statement it runs (read_only
 * is false), and so does the direct read, so in READ COMMITTED every call
 * sees what was committed before it, even within one waiting statement.
 */
static uint64
mq_read_once(MqQueue *queue, int32 qty, int64 vt, TupleDesc desc,
			 TimestampTz *next_token, SPITupleTable **rows)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz lease_end = MqAddUsecs(now, vt < 0 ? queue->visibility_timeout : vt);
	Datum		values[4];
	int32		allowed = qty;
	HeapTuple  *tuples;
	int			direct;
	uint64		n;

	*next_token = DT_NOEND;
	*rows = NULL;
	if (queue->paused)
		return 0;
	if (queue->rate_limit > 0)
	{
		allowed = MqRateTake(queue, qty, next_token);
		if (allowed == 0)
			return 0;
	}

	MqFloorAdvance(queue);
	direct = MqDirectRead(queue, allowed, now, lease_end, false, desc, &tuples);
	if (direct >= 0)
	{
		n = direct;
		if (n > 0)
		{
			*rows = palloc0(sizeof(SPITupleTable));
			(*rows)->tupdesc = desc;
			(*rows)->vals = tuples;
			(*rows)->numvals = n;
			MqNoteLeases(queue, *rows, n);
		}
	}
	else
	{
		values[0] = TimestampTzGetDatum(now);
		values[1] = Int32GetDatum(queue->max_attempts);
		values[2] = Int32GetDatum(allowed);
		values[3] = TimestampTzGetDatum(lease_end);
		MqExecute(queue, queue->priorities ? MQ_STMT_READ_PRIO : MQ_STMT_READ,
				  values, NULL, 0);
		n = SPI_processed;
		*rows = SPI_tuptable;
	}
	if (queue->rate_limit > 0 && n < (uint64) allowed)
		MqRateReturn(queue, allowed - (int32) n);
	if (n > 0)
	{
		/* if we roll back, the messages are readable again at once */
		MqWakeupRegister(queue, MQ_WAKE_ON_ABORT);
		MqStatsDelivered(queue, *rows, n, false);
		return n;
	}
	if (direct < 0)
		SPI_freetuptable(SPI_tuptable);
	*rows = NULL;
	return 0;
}

/*
 * When the next message becomes readable by the clock alone (a delay or a
 * lease running out), or DT_NOEND if none will.
 */
static TimestampTz
mq_next_due(MqQueue *queue, TimestampTz now)
{
	Datum		values[2];
	TimestampTz due = DT_NOEND;
	bool		isnull;
	Datum		d;

	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(queue->max_attempts);
	MqExecute(queue, MQ_STMT_READ_DUE, values, NULL, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		due = DatumGetTimestampTz(d);
	SPI_freetuptable(SPI_tuptable);
	return due;
}

/*
 * With wait > 0 and nothing readable, sleep until a transaction that may
 * have made messages readable ends (see wakeup.c), until the next delayed
 * message or expired lease is due, or until the wait is over, and read
 * again.  A wait ends early, with an empty result, when another session
 * queues for a lock on the queue's table that conflicts with the read's.
 */
Datum
mq_read(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	int32		qty = MqArgQty(fcinfo, 1);
	MqCall		call;
	MqQueue    *queue;
	int64		vt = -1;		/* the queue's default */
	int64		wait;
	TimestampTz deadline;
	TimestampTz next_token;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SPITupleTable *rows;
	uint64		found;

	if (!PG_ARGISNULL(2))
		vt = MqIntervalUsecs(PG_GETARG_DATUM(2), "visibility_timeout", false);
	wait = MqWaitArg(fcinfo, 3, "mq_read");

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_READ, false);
	deadline = MqAddUsecs(GetCurrentTimestamp(), wait);

	found = mq_read_once(queue, qty, vt, rsinfo->setDesc, &next_token, &rows);
	if (!found && wait > 0)
	{
		/* for what each round's lookup allocates */
		MemoryContext loopcxt = AllocSetContextCreate(CurrentMemoryContext,
													  "mq_read wait",
													  ALLOCSET_SMALL_SIZES);

		/* from here on, a commit that could interest us wakes us */
		MqWaitBegin(queue, MQ_WAIT_READ);
		for (;;)
		{
			TimestampTz now;
			TimestampTz until;
			MemoryContext oldcxt;

			found = mq_read_once(queue, qty, vt, rsinfo->setDesc, &next_token, &rows);
			if (found)
				break;
			now = GetCurrentTimestamp();
			if (now >= deadline)
				break;
			/* paused: only a resume (which wakes us) can end the wait early */
			until = deadline;
			if (!queue->paused)
				until = Min(until, Min(next_token, mq_next_due(queue, now)));
			if (!MqWaitSleep(until))
				break;
			/* never lease for a client that has gone */
			MqWaitCheckClient();

			/* see alters of the queue, as a new statement would */
			MemoryContextReset(loopcxt);
			oldcxt = MemoryContextSwitchTo(loopcxt);
			AcceptInvalidationMessages();

			/*
			 * A resume wakes us from its commit callback, which runs before
			 * its invalidation is sent: reread a paused queue's options from
			 * the catalog (committed by then) rather than trust the cache.
			 */
			if (queue->paused)
				queue->valid = false;
			queue = MqLookup(&call, name, false);
			/* a grant revoked meanwhile ends the wait */
			MqCheckPrivilege(&call, queue, MQ_PRIV_READ);
			MemoryContextSwitchTo(oldcxt);
		}
		MqWaitEnd();
		MemoryContextDelete(loopcxt);
	}
	if (found)
		MqReturnTable(fcinfo, rows, found);

	MqEnd(&call);
	return (Datum) 0;
}

Datum
mq_pop(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	int32		qty = MqArgQty(fcinfo, 1);
	MqCall		call;
	MqQueue    *queue;
	Datum		values[3];
	TimestampTz next_token;
	TimestampTz now;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SPITupleTable *rows;
	HeapTuple  *tuples;
	int			direct = -1;
	MqStmt		stmt;
	uint64		n;
	uint64		i;
	char	  **groups;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_READ, false);

	if (queue->paused ||
		(queue->rate_limit > 0 && (qty = MqRateTake(queue, qty, &next_token)) == 0))
	{
		MqEnd(&call);
		return (Datum) 0;
	}

	now = GetCurrentTimestamp();
	if (!queue->has_retention)
	{
		MqFloorAdvance(queue);
		direct = MqDirectRead(queue, qty, now, 0, true, rsinfo->setDesc, &tuples);
	}
	if (direct >= 0)
	{
		rows = palloc0(sizeof(SPITupleTable));
		rows->tupdesc = rsinfo->setDesc;
		rows->vals = tuples;
		rows->numvals = n = direct;
	}
	else
	{
		values[0] = TimestampTzGetDatum(now);
		values[1] = Int32GetDatum(queue->max_attempts);
		values[2] = Int32GetDatum(qty);
		if (queue->priorities)
			stmt = queue->has_retention ? MQ_STMT_POP_PRIO_RETAIN : MQ_STMT_POP_PRIO;
		else
			stmt = queue->has_retention ? MQ_STMT_POP_RETAIN : MQ_STMT_POP;
		MqExecute(queue, stmt, values, NULL, 0);
		rows = SPI_tuptable;
		n = SPI_processed;
	}
	if (queue->rate_limit > 0 && n < (uint64) qty)
		MqRateReturn(queue, qty - (int32) n);
	if (n > 0)
		MqWakeupRegister(queue, MQ_WAKE_ON_ABORT | MQ_WAKE_STATUS_ON_COMMIT);
	MqStatsDelivered(queue, rows, n, true);
	MqReturnTable(fcinfo, rows, n);

	/* the heads of groups popped: their groups move on */
	groups = palloc0(sizeof(char *) * (n + 1));
	for (i = 0; queue->v2 && i < n; i++)
		groups[i] = SPI_getvalue(rows->vals[i], rows->tupdesc, 7);
	for (i = 0; i < n; i++)
	{
		if (groups[i] != NULL)
			MqGroupRelease(queue, groups[i], -1);
	}

	MqEnd(&call);
	return (Datum) 0;
}
