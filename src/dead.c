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
 * since the second DELETE finds the row gone.  On the tables of 0.2 the
 * rows taken are sent again one by one, in msg_id order, as mq_send sends
 * (order.c): a message of a group rejoins its group, behind its head if the
 * group has live messages, and is the head otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
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

typedef struct MqRedriven
{
	int64		msg_id;
	Datum		enqueued_at;
	Datum		body;
	Datum		headers;
	bool		noheaders;
	char	   *last_error;
	char	   *group_id;
	int32		priority;
	char	   *topic;			/* of a copy of a publish (never in a group) */
	char	   *routing_key;
} MqRedriven;

static int
mq_redriven_cmp(const void *a, const void *b)
{
	int64		x = ((const MqRedriven *) a)->msg_id;
	int64		y = ((const MqRedriven *) b)->msg_id;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Redrive on the tables of 0.2; values: $1 msg_ids, $2 qty, $3 now. */
static uint64
mq_redrive_v2(MqQueue *queue, Datum *values, char *nulls)
{
	MqRedriven *rows;
	uint64		n;
	uint64		i;

	MqExecute(queue, MQ_STMT_REDRIVE_TAKE, values, nulls, 0);
	n = SPI_processed;
	rows = palloc0(sizeof(MqRedriven) * (n + 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		rows[i].msg_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		rows[i].enqueued_at = SPI_getbinval(tup, desc, 2, &isnull);
		rows[i].body = SPI_datumTransfer(SPI_getbinval(tup, desc, 3, &isnull), false, -1);
		rows[i].headers = SPI_getbinval(tup, desc, 4, &rows[i].noheaders);
		if (!rows[i].noheaders)
			rows[i].headers = SPI_datumTransfer(rows[i].headers, false, -1);
		rows[i].last_error = SPI_getvalue(tup, desc, 5);
		rows[i].group_id = SPI_getvalue(tup, desc, 6);
		rows[i].priority = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		rows[i].topic = SPI_getvalue(tup, desc, 8);
		rows[i].routing_key = SPI_getvalue(tup, desc, 9);
	}
	qsort(rows, n, sizeof(MqRedriven), mq_redriven_cmp);
	for (i = 0; i < n; i++)
	{
		Datum		v[MQ_MAX_ARGS];
		char		vn[MQ_MAX_ARGS];
		MqStmt		stmt = MQ_STMT_ENQUEUE;

		if (rows[i].priority != 0)
			MqPriorityEnsure(queue);
		if (rows[i].group_id != NULL)
		{
			Datum		g = CStringGetTextDatum(rows[i].group_id);
			bool		isnull;

			MqExecute(queue, MQ_STMT_GROUP_JOIN, &g, NULL, 0);
			if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull)) > 1)
				stmt = MQ_STMT_PARK;
		}
		memset(vn, ' ', sizeof(vn));
		v[0] = values[2];
		v[1] = rows[i].body;
		v[2] = rows[i].headers;
		vn[2] = rows[i].noheaders ? 'n' : ' ';
		v[3] = rows[i].enqueued_at;
		v[4] = Int64GetDatum(rows[i].msg_id);
		v[5] = rows[i].group_id ? CStringGetTextDatum(rows[i].group_id) : (Datum) 0;
		vn[5] = rows[i].group_id ? ' ' : 'n';
		v[6] = Int32GetDatum(rows[i].priority);
		v[7] = rows[i].last_error ? CStringGetTextDatum(rows[i].last_error) : (Datum) 0;
		vn[7] = rows[i].last_error ? ' ' : 'n';
		v[8] = rows[i].topic ? CStringGetTextDatum(rows[i].topic) : (Datum) 0;
		vn[8] = rows[i].topic ? ' ' : 'n';
		v[9] = rows[i].routing_key ? CStringGetTextDatum(rows[i].routing_key) : (Datum) 0;
		vn[9] = rows[i].routing_key ? ' ' : 'n';
		MqExecute(queue, stmt, v, vn, 0);
	}
	return n;
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
	if (queue->v2)
		moved = mq_redrive_v2(queue, values, nulls);
	else
	{
		MqExecute(queue, MQ_STMT_REDRIVE, values, nulls, 0);
		moved = SPI_processed;
	}
	if (moved > 0)
		MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT |
						 (queue->notify ? MQ_NOTIFY_ON_COMMIT : 0));
	MqEnd(&call);
	PG_RETURN_INT64((int64) moved);
}
