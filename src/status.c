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

#include "access/xlog.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
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
 * One result row of mq_metrics for queue.  An unlogged queue has no rows on
 * a standby (unlogged tables are not replicated and cannot be read during
 * recovery): asked for by name, that is an error; in the list of all
 * queues, its counts are NULL, so that one unlogged queue does not hide
 * the others from monitoring.
 */
static void
mq_metrics_row(ReturnSetInfo *rsinfo, MqQueue *queue, TimestampTz now, bool all)
{
	Datum		args[2];
	Datum		values[7];
	bool		nulls[7];
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
		for (i = 1; i < 7; i++)
			nulls[i] = true;
	}
	else if (queue->kind == MQ_KIND_STREAM)
		MqStreamMetrics(queue, now, values, nulls);		/* stream.c */
	else
	{
		args[0] = TimestampTzGetDatum(now);
		args[1] = Int32GetDatum(queue->max_attempts);
		MqExecute(queue, MQ_STMT_METRICS, args, NULL, 0);
		for (i = 1; i < 7; i++)
			values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  i, &nulls[i]);
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Counts for one queue, or for every queue the caller may read when queue
 * is NULL.
 */
Datum
mq_metrics(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = PG_ARGISNULL(0) ? NULL : MqArgQueueName(fcinfo, 0);
	TimestampTz now = GetCurrentTimestamp();
	MqCall		call;
	MqQueue    *queue;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_READ | MQ_ANY_KIND, false);
	if (queue != NULL)
		mq_metrics_row(rsinfo, queue, now, false);
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
			if (queue != NULL && MqHasPrivilege(&call, queue, MQ_PRIV_READ))
				mq_metrics_row(rsinfo, queue, now, true);
		}
	}
	MqEnd(&call);
	return (Datum) 0;
}
