/*-------------------------------------------------------------------------
 *
 * send.c
 *	  mq_send and mq_send_batch: insert messages into a queue's live table.
 *
 * A send is an INSERT in the caller's transaction, so it is invisible to
 * readers until that transaction commits and vanishes if it rolls back.
 * Inserts take only the table's RowExclusiveLock and block nobody.  Each
 * send records its queue for the transaction's commit, which wakes the
 * readers waiting on it (wakeup.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_send);
PG_FUNCTION_INFO_V1(mq_send_batch);

/* Wake waiting readers (and notify listeners) once the send commits. */
static void
mq_sent(MqQueue *queue)
{
	MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT |
					 (queue->notify ? MQ_NOTIFY_ON_COMMIT : 0));
	MqStatsSent(queue, SPI_processed);
}

/*
 * Check the arguments every send shares (delay at argno, headers after it)
 * and fill in parameters $1 (visible_at), $3 (headers) and $4 (enqueued_at).
 */
static void
mq_send_args(FunctionCallInfo fcinfo, int argno, Datum *values, char *nulls)
{
	int64		delay;

	MqArgNotNull(fcinfo, argno, "delay");
	delay = MqIntervalUsecs(PG_GETARG_DATUM(argno), "delay", true);
	if (!PG_ARGISNULL(argno + 1))
		MqCheckHeaders(PG_GETARG_DATUM(argno + 1));

	values[0] = TimestampTzGetDatum(MqAddUsecs(GetCurrentTimestamp(), delay));
	nulls[0] = ' ';
	values[2] = PG_ARGISNULL(argno + 1) ? (Datum) 0 : PG_GETARG_DATUM(argno + 1);
	nulls[2] = PG_ARGISNULL(argno + 1) ? 'n' : ' ';
	values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	nulls[3] = ' ';
}

Datum
mq_send(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	Datum		values[4];
	char		nulls[4];
	bool		isnull;
	int64		msg_id;

	MqArgNotNull(fcinfo, 1, "body");
	MqCheckBody(PG_GETARG_DATUM(1), "body");
	mq_send_args(fcinfo, 2, values, nulls);
	values[1] = PG_GETARG_DATUM(1);
	nulls[1] = ' ';

	queue = MqBegin(&call, name, MQ_PRIV_SEND, false);
	MqExecute(queue, MQ_STMT_SEND, values, nulls, 0);
	mq_sent(queue);
	msg_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	MqEnd(&call);
	PG_RETURN_INT64(msg_id);
}

Datum
mq_send_batch(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	ArrayType  *bodies;
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	int			i;
	Datum		values[4];
	char		nulls[4];

	MqArgNotNull(fcinfo, 1, "bodies");
	bodies = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(bodies) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("bodies must be a one-dimensional array")));
	deconstruct_array(bodies, JSONBOID, -1, false, TYPALIGN_INT,
					  &elems, &elemnulls, &nelems);
	for (i = 0; i < nelems; i++)
	{
		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("bodies must not contain nulls"),
					 errdetail("Element %d is null.", i + 1)));
		MqCheckBody(elems[i], "body");
	}
	mq_send_args(fcinfo, 2, values, nulls);
	values[1] = PointerGetDatum(bodies);
	nulls[1] = ' ';

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_SEND, false);
	if (nelems > 0)
	{
		MqExecute(queue, MQ_STMT_SEND_BATCH, values, nulls, 0);
		mq_sent(queue);
		MqReturnRows(fcinfo);
	}
	MqEnd(&call);
	return (Datum) 0;
}
