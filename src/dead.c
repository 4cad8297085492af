/*-------------------------------------------------------------------------
 *
 * dead.c
 *	  mq_dead (inspect dead letters) and mq_redrive (put them back).
 *
 * Dead letters live in the queue's d_<name> table, apart from the live
 * messages, so reads never scan them and mq_purge never removes them.
 * A redrive moves rows back in one statement (DELETE ... RETURNING feeding
 * an INSERT), keeping each message's msg_id, body and headers and resetting
 * its attempt; two concurrent redrives of the same message move it once,
 * since the second DELETE finds the row gone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/timestamp.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_dead);
PG_FUNCTION_INFO_V1(mq_redrive);

Datum
mq_dead(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	int32		qty = MqArgQty(fcinfo, 1);
	MqCall		call;
	MqQueue    *queue;
	Datum		arg = Int32GetDatum(qty);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_READ, false);
	MqExecute(queue, MQ_STMT_DEAD, &arg, NULL, 0);
	MqReturnRows(fcinfo);
	MqEnd(&call);
	return (Datum) 0;
}

/*
 * Redrive the dead letters listed in msg_ids (all of them when NULL), at
 * most qty of them (no limit when NULL, else 1 to MQ_MAX_QTY), oldest first.  Returns how many
 * were moved back; they are ready at once, on attempt 0.
 */
Datum
mq_redrive(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	uint64		moved;

	values[0] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[0] = PG_ARGISNULL(1) ? 'n' : ' ';
	values[1] = PG_ARGISNULL(2) ? (Datum) 0 : Int64GetDatum(MqArgQty(fcinfo, 2));
	nulls[1] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());

	queue = MqBegin(&call, name, MQ_PRIV_MANAGE, false);
	MqExecute(queue, MQ_STMT_REDRIVE, values, nulls, 0);
	moved = SPI_processed;
	if (moved > 0)
		MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT |
						 (queue->notify ? MQ_NOTIFY_ON_COMMIT : 0));
	MqEnd(&call);
	PG_RETURN_INT64((int64) moved);
}
