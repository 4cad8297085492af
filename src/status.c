/*-------------------------------------------------------------------------
 *
 * status.c
 *	  mq_status (where one message is) and mq_metrics (counts per queue).
 *
 * Both read with the statement's snapshot, so a message moving between a
 * queue's tables at the same moment is seen in exactly one of them.  They
 * take no row locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_status);
PG_FUNCTION_INFO_V1(mq_metrics);

/*
 * Look for one message with a new snapshot (SPI takes one per statement in
 * READ COMMITTED); its row, if any, is in SPI_tuptable.  True if the
 * message is still in the live table: neither done nor dead yet.
 */
static bool
mq_status_once(MqQueue *queue, Datum msg_id)
{
	Datum		values[3];
	bool		isnull;
	char	   *state;

	values[0] = msg_id;
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[2] = Int32GetDatum(queue->max_attempts);
	MqExecute(queue, MQ_STMT_STATUS, values, NULL, 1);
	if (SPI_processed == 0)
		return false;
	state = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	return strcmp(state, "done") != 0 && strcmp(state, "dead") != 0;
}

/*
 * Where one message is.  With wait > 0 (0.2) and the message still in the
 * live table, sleep until a transaction that acked, popped, dead-lettered
 * or purged messages of the queue commits (wakeup.c), or the wait ends,
 * and look again: request/reply without polling.  Allowed with send or
 * read, so that a producer learns the fate of what it sent.
 */
Datum
mq_status(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	Datum		msg_id;
	int64		wait = 0;
	TimestampTz deadline;

	MqArgNotNull(fcinfo, 1, "msg_id");
	msg_id = PG_GETARG_DATUM(1);
	/* 0.1 declared two arguments; its databases call us with those */
	if (PG_NARGS() > 2)
		wait = MqWaitArg(fcinfo, 2, "mq_status");

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_SEND | MQ_PRIV_READ, false);
	deadline = MqAddUsecs(GetCurrentTimestamp(), wait);

	if (mq_status_once(queue, msg_id) && wait > 0)
	{
		/* for what each round's lookup allocates */
		MemoryContext loopcxt = AllocSetContextCreate(CurrentMemoryContext,
													  "mq_status wait",
													  ALLOCSET_SMALL_SIZES);

		/* from here on, a commit that could interest us wakes us */
		MqWaitBegin(queue, MQ_WAIT_STATUS);
		for (;;)
		{
			MemoryContext oldcxt;

			SPI_freetuptable(SPI_tuptable);
			if (!mq_status_once(queue, msg_id))
				break;
			if (GetCurrentTimestamp() >= deadline || !MqWaitSleep(deadline))
				break;
			MqWaitCheckClient();

			/* see alters and revokes, as a new statement would */
			MemoryContextReset(loopcxt);
			oldcxt = MemoryContextSwitchTo(loopcxt);
			AcceptInvalidationMessages();
			queue = MqLookup(&call, name, false);
			MqCheckPrivilege(&call, queue, MQ_PRIV_SEND | MQ_PRIV_READ);
			MemoryContextSwitchTo(oldcxt);
		}
		MqWaitEnd();
		MemoryContextDelete(loopcxt);
	}
	MqReturnRows(fcinfo);
	MqEnd(&call);
	return (Datum) 0;
}

/*
 * The number of rows in a table, as the planner estimates it: the tuple
 * density of the last VACUUM or ANALYZE times the table's current size.
 */
static int64
mq_estimate_rows(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;

	estimate_rel_size(rel, NULL, &pages, &tuples, &allvisfrac);
	table_close(rel, AccessShareLock);
	return (int64) tuples;
}

/*
 * A count that the statement stopped at limit + 1: beyond the limit, the
 * planner's estimate of the table's rows less those counted elsewhere,
 * and never less than limit + 1.
 */
static int64
mq_capped(int64 counted, char kind, MqCall *call, const char *name, int64 others)
{
	int64		limit = mq_metrics_exact_limit;
	int64		estimate;

	if (counted <= limit)
		return counted;
	estimate = mq_estimate_rows(get_relname_relid(psprintf("%c_%s", kind, name),
												  call->nspid)) - others;
	return Max(limit + 1, estimate);
}

/*
 * One result row of mq_metrics for queue.  An unlogged queue has no rows on
 * a standby (unlogged tables are not replicated and cannot be read during
 * recovery): asked for by name, that is an error; in the list of all
 * queues, its counts are NULL, so that one unlogged queue does not hide
 * the others from monitoring.  A 0.1 database declares seven columns, and
 * no retrying: its delayed count includes the retrying messages.
 */
static void
mq_metrics_row(ReturnSetInfo *rsinfo, MqCall *call, MqQueue *queue,
			   TimestampTz now, bool all)
{
	int			ncols = rsinfo->setDesc->natts;
	Datum		args[3];
	Datum		values[8];
	bool		nulls[8];
	int			i;

	values[0] = CStringGetTextDatum(queue->name);
	nulls[0] = false;
	if (queue->unlogged && RecoveryInProgress())
	{
		if (!all)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot read unlogged queue \"%s\" during recovery",
							queue->name),
					 errdetail("Unlogged queues are not replicated to standbys.")));
		for (i = 1; i < ncols; i++)
			nulls[i] = true;
	}
	else if (queue->kind == MQ_KIND_STREAM)
	{
		MqStreamMetrics(queue, now, values, nulls);		/* stream.c */
		/* nothing of a stream retries */
		values[7] = Int64GetDatum(0);
		nulls[7] = false;
	}
	else
	{
		int64		c[7];
		bool		isnull;
		int64		retrying;
		int64		parked = 0;
		int64		parked_delayed = 0;

		args[0] = TimestampTzGetDatum(now);
		args[1] = Int32GetDatum(queue->max_attempts);
		args[2] = Int64GetDatum((int64) mq_metrics_exact_limit + 1);
		MqExecute(queue, MQ_STMT_METRICS, args, NULL, 0);
		for (i = 0; i < 7; i++)
			c[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, i + 1, &isnull));
		values[6] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  8, &nulls[6]);
		/* c: visible now (capped), exhausted, delayed, retrying, leased, dead, retained */
		retrying = c[3];
		/* 0.2: the messages parked behind their group's head, due and not */
		if (queue->v2)
		{
			int64		parked_ready = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
																	 SPI_tuptable->tupdesc, 9, &isnull));

			parked_delayed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 10, &isnull));
			/* beyond the limit, all but the delayed ones seen are ready */
			parked = mq_capped(parked_ready + parked_delayed, 'p', call, queue->name,
							   0) - parked_delayed;
		}
		values[1] = Int64GetDatum(mq_capped(c[0], 'q', call, queue->name,
											c[2] + c[3] + c[4] + c[1]) - c[1] + parked);
		values[2] = Int64GetDatum((ncols > 7 ? c[2] : c[2] + retrying) + parked_delayed);
		values[3] = Int64GetDatum(c[4] + c[1]);
		values[4] = Int64GetDatum(mq_capped(c[5], 'd', call, queue->name, 0));
		values[5] = Int64GetDatum(mq_capped(c[6], 'a', call, queue->name, 0));
		for (i = 1; i < 6; i++)
			nulls[i] = false;
		if (ncols > 7)
		{
			values[7] = Int64GetDatum(retrying);
			nulls[7] = false;
		}
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	/* a call over every queue keeps no result of one */
	if (SPI_tuptable != NULL)
		SPI_freetuptable(SPI_tuptable);
}

/*
 * Counts for one queue, or for every queue the caller may read when queue
 * is NULL.  Members of pg_monitor see every queue.
 */
Datum
mq_metrics(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = PG_ARGISNULL(0) ? NULL : MqArgQueueName(fcinfo, 0);
	TimestampTz now = GetCurrentTimestamp();
	MqCall		call;
	MqQueue    *queue;
	bool		monitor = has_privs_of_role(GetUserId(), ROLE_PG_MONITOR);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (monitor)
	{
		queue = MqBegin(&call, NULL, 0, false);
		if (name != NULL)
		{
			queue = MqLookup(&call, name, true);
			if (queue == NULL)
			{
				/* a topic of that name: 42809 (or 42501) */
				MqTopicNotQueue(&call, name, MQ_PRIV_READ);
				MqLookup(&call, name, false);	/* raises 42704 */
			}
		}
	}
	else
		queue = MqBegin(&call, name, MQ_PRIV_READ | MQ_ANY_KIND, false);
	if (queue != NULL)
		mq_metrics_row(rsinfo, &call, queue, now, false);
	else
	{
		char	  **names;
		uint64		n,
					i;

		if (SPI_execute("SELECT queue_name FROM mq.queue ORDER BY queue_name",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the catalog of queues");
		n = SPI_processed;
		names = palloc(sizeof(char *) * (n + 1));
		for (i = 0; i < n; i++)
			names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		for (i = 0; i < n; i++)
		{
			queue = MqLookup(&call, names[i], true);
			if (queue != NULL &&
				(monitor || MqHasPrivilege(&call, queue, MQ_PRIV_READ)))
				mq_metrics_row(rsinfo, &call, queue, now, true);
		}
	}
	MqEnd(&call);
	return (Datum) 0;
}
