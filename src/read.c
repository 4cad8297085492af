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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/timestamp.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_read);
PG_FUNCTION_INFO_V1(mq_pop);

/* Copy the rows SPI returned (shaped like mq_message) into the result set. */
static void
mq_return_messages(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		row;

	for (row = 0; row < SPI_processed; row++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[row]);
}

Datum
mq_read(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	int32		qty = MqArgQty(fcinfo, 1);
	MqCall		call;
	MqQueue    *queue;
	int64		vt = 0;
	TimestampTz now;
	Datum		values[4];

	if (!PG_ARGISNULL(2))
		vt = MqIntervalUsecs(PG_GETARG_DATUM(2), "visibility_timeout", false);
	MqArgNotNull(fcinfo, 3, "wait");
	MqIntervalUsecs(PG_GETARG_DATUM(3), "wait", true);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_READ, false);
	if (PG_ARGISNULL(2))
		vt = queue->visibility_timeout;

	now = GetCurrentTimestamp();
	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(queue->max_attempts);
	values[2] = Int32GetDatum(qty);
	values[3] = TimestampTzGetDatum(MqAddUsecs(now, vt));
	MqExecute(queue, MQ_STMT_READ, values, NULL, 0);
	mq_return_messages(fcinfo);

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

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_READ, false);

	values[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[1] = Int32GetDatum(queue->max_attempts);
	values[2] = Int32GetDatum(qty);
	MqExecute(queue, queue->has_retention ? MQ_STMT_POP_RETAIN : MQ_STMT_POP,
			  values, NULL, 0);
	mq_return_messages(fcinfo);

	MqEnd(&call);
	return (Datum) 0;
}
