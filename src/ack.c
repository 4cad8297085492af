/*-------------------------------------------------------------------------
 *
 * ack.c
 *	  mq_ack (both forms), mq_nack and mq_extend: what a consumer does with
 *	  a message it has leased.
 *
 * attempt is the lease token: when a caller passes it, the statement only
 * matches the row while it is still on that attempt, so a consumer whose
 * lease expired and was handed to another consumer cannot touch the newer
 * lease.  Each statement locks the message's row; if a reader holds it (in
 * a transaction that has not committed), the ack waits for that
 * transaction and then re-evaluates its condition against the new row
 * version (READ COMMITTED), so the first to commit wins.
 *
 * On the tables of 0.2 the plain statements leave messages of a group
 * alone: those are acked by statements that also release the group
 * (order.c), which a backend tries first once it has acked one.
 *
 * mq_ack (both forms) of a queue without retention does the plain
 * statement's DELETE through the primary key and the table access method
 * (direct.c), with the executor's waits and READ COMMITTED re-check, and so
 * does the single ack of a message of a group, with its group's release;
 * mq_nack and mq_extend lock the row and write the retry or the new lease
 * there too.  Acks with retention (a row to insert into the acked table
 * too) and the dead-lettering nack run their statements through SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "direct.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_ack);
PG_FUNCTION_INFO_V1(mq_ack_ids);
PG_FUNCTION_INFO_V1(mq_nack);
PG_FUNCTION_INFO_V1(mq_extend);

/*
 * The retry delay after a given attempt: backoff_base * 2^(attempt - 1),
 * capped at backoff_max, with "equal jitter" (a random point in the upper
 * half) so that consumers failing together do not retry together.
 */
int64
MqBackoffUsecs(MqQueue *queue, int32 attempt)
{
	double		delay = (double) queue->backoff_base;
	int			i;

	for (i = 1; i < attempt && delay < (double) queue->backoff_max; i++)
		delay *= 2;
	if (delay > (double) queue->backoff_max)
		delay = (double) queue->backoff_max;
	return (int64) (delay / 2 + pg_prng_double(&pg_global_prng_state) * delay / 2);
}

/* Parameters $1 msg_id and $2 attempt (nullable), shared by the fenced calls. */
static void
mq_fence_args(FunctionCallInfo fcinfo, int idarg, int attemptarg,
			  Datum *values, char *nulls)
{
	MqArgNotNull(fcinfo, idarg, "msg_id");
	values[0] = PG_GETARG_DATUM(idarg);
	nulls[0] = ' ';
	values[1] = PG_ARGISNULL(attemptarg) ? (Datum) 0 : PG_GETARG_DATUM(attemptarg);
	nulls[1] = PG_ARGISNULL(attemptarg) ? 'n' : ' ';
}

Datum
mq_ack(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	Datum		values[4];
	char		nulls[4];
	bool		acked;
	int			direct;
	char	   *group_id;
	int64		left;
	bool		moved;

	mq_fence_args(fcinfo, 1, 2, values, nulls);
	if (!PG_ARGISNULL(3))
		MqCheckBody(PG_GETARG_DATUM(3), "result");
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	nulls[2] = ' ';
	values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';

	queue = MqBegin(&call, name, MQ_PRIV_READ, false);
	acked = false;
	if (!queue->group_hint &&
		(queue->has_retention ||
		 !MqDirectAck(queue, DatumGetInt64(values[0]), nulls[1] != 'n',
					  DatumGetInt32(values[1]), &acked)))
	{
		MqExecute(queue, queue->has_retention ? MQ_STMT_ACK_RETAIN : MQ_STMT_ACK,
				  values, nulls, 0);
		acked = (SPI_processed > 0);
		MqStatsAcked(queue, SPI_tuptable, SPI_processed, 1);
	}
	if (!acked && queue->v2 && !queue->has_retention &&
		(direct = MqDirectAckGroup(queue, DatumGetInt64(values[0]), nulls[1] != 'n',
								   DatumGetInt32(values[1]), &group_id, &left,
								   &moved)) >= 0)
	{
		/* a message of a group (or none): acked, its group released */
		acked = (direct > 0);
		if (acked)
		{
			queue->group_hint = (group_id != NULL);
			if (moved)
				MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT);
			else if (group_id != NULL && left >= 0)
				MqGroupRelease(queue, group_id, left);
		}
	}
	else if (!acked && queue->v2)
	{
		/* a message of a group (or none): ack it and release its group */
		MqExecute(queue, queue->has_retention ? MQ_STMT_ACK_GROUP_RETAIN : MQ_STMT_ACK_GROUP,
				  values, nulls, 0);
		acked = (SPI_processed > 0);
		if (acked)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *group_id = SPI_getvalue(tup, desc, 1);
			bool		noleft;
			bool		isnull;
			Datum		left = SPI_getbinval(tup, desc, 2, &noleft);
			int64		moved = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));

			MqStatsAcked(queue, SPI_tuptable, 1, 4);
			queue->group_hint = (group_id != NULL);
			if (moved > 0)
				MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT);
			else if (group_id != NULL && !noleft)
				MqGroupRelease(queue, group_id, DatumGetInt64(left));
		}
	}
	/*
	 * Should we roll back, the message is back where it was; when we
	 * commit, a producer waiting in mq_status learns its fate.
	 */
	if (acked)
		MqWakeupRegister(queue, MQ_WAKE_ON_ABORT | MQ_WAKE_STATUS_ON_COMMIT);
	MqEnd(&call);
	PG_RETURN_BOOL(acked);
}

/* The ids (first column) of the rows the last statement returned. */
static void
mq_return_ids(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		row;

	for (row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		Datum		id = SPI_getbinval(SPI_tuptable->vals[row],
									   SPI_tuptable->tupdesc, 1, &isnull);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
	}
}

Datum
mq_ack_ids(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	Datum		values[2];
	int64	   *acked_ids;
	int			direct = -1;
	uint64		nacked;

	MqArgNotNull(fcinfo, 1, "msg_ids");
	values[0] = PG_GETARG_DATUM(1);
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_READ, false);
	if (!queue->has_retention)
		direct = MqDirectAckIds(queue, PG_GETARG_ARRAYTYPE_P(1), &acked_ids);
	if (direct >= 0)
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		bool		isnull = false;
		int			i;

		nacked = direct;
		for (i = 0; i < direct; i++)
		{
			Datum		id = Int64GetDatum(acked_ids[i]);

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
		}
	}
	else
	{
		MqExecute(queue, queue->has_retention ? MQ_STMT_ACK_IDS_RETAIN : MQ_STMT_ACK_IDS,
				  values, NULL, 0);
		nacked = SPI_processed;
		MqStatsAcked(queue, SPI_tuptable, SPI_processed, 2);
		mq_return_ids(fcinfo);
	}
	if (nacked > 0)
		MqWakeupRegister(queue, MQ_WAKE_ON_ABORT | MQ_WAKE_STATUS_ON_COMMIT);

	/*
	 * On 0.2's tables, ids the plain statement did not find may be messages
	 * of groups (or unknown): ack those and release their groups.
	 */
	if (queue->v2 &&
		nacked < (uint64) ArrayGetNItems(ARR_NDIM(PG_GETARG_ARRAYTYPE_P(1)),
												ARR_DIMS(PG_GETARG_ARRAYTYPE_P(1))))
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		uint64		n;
		uint64		i;
		char	  **groups;

		MqExecute(queue, queue->has_retention ?
				  MQ_STMT_ACK_IDS_GROUP_RETAIN : MQ_STMT_ACK_IDS_GROUP,
				  values, NULL, 0);
		n = SPI_processed;
		MqStatsAcked(queue, SPI_tuptable, n, 3);
		if (n > 0)
			MqWakeupRegister(queue, MQ_WAKE_ON_ABORT | MQ_WAKE_STATUS_ON_COMMIT);
		groups = palloc0(sizeof(char *) * (n + 1));
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		id = SPI_getbinval(SPI_tuptable->vals[i],
										   SPI_tuptable->tupdesc, 1, &isnull);

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
			groups[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		}
		for (i = 0; i < n; i++)
		{
			if (groups[i] != NULL)
				MqGroupRelease(queue, groups[i], -1);
		}
	}
	MqEnd(&call);
	return (Datum) 0;
}

/*
 * Give a lease back.  The message becomes visible again after delay (or
 * the queue's backoff), or, on its last allowed attempt, is dead-lettered
 * with reason "nack".  Only a leased message (one read and not since
 * nacked) can be nacked.
 */
Datum
mq_nack(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	Datum		values[3];
	char		nulls[3];
	int64		delay = -1;
	TimestampTz until;
	bool		nacked = false;
	int			direct;
	int32		attempt;
	char	   *group_id;
	Datum		error;

	mq_fence_args(fcinfo, 1, 4, values, nulls);
	if (!PG_ARGISNULL(2))
		delay = MqIntervalUsecs(PG_GETARG_DATUM(2), "delay", true);

	queue = MqBegin(&call, name, MQ_PRIV_READ, false);
	error = PG_ARGISNULL(3) ? (Datum) 0 : MqErrorArg(PG_GETARG_TEXT_PP(3));
	/* lock the leased message, and write a retry (direct.c) ... */
	direct = MqDirectNack(queue, DatumGetInt64(values[0]), nulls[1] != 'n',
						  DatumGetInt32(values[1]), true, delay, error,
						  PG_ARGISNULL(3), &until, &attempt, &group_id);
	if (direct < 0)
	{
		/* ... or in SQL */
		MqExecute(queue, MQ_STMT_NACK_LOCK, values, nulls, 0);
		direct = 0;
		if (SPI_processed > 0)
		{
			bool		isnull;

			attempt = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
			group_id = queue->v2 ?
				SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2) : NULL;
			direct = 2;
			if (attempt < queue->max_attempts)
			{
				if (delay < 0)
					delay = MqBackoffUsecs(queue, attempt);
				values[1] = TimestampTzGetDatum(MqAddUsecs(GetCurrentTimestamp(), delay));
				nulls[1] = ' ';
				values[2] = error;
				nulls[2] = PG_ARGISNULL(3) ? 'n' : ' ';
				MqExecute(queue, MQ_STMT_NACK_RETRY, values, nulls, 0);
				direct = 1;
			}
		}
	}
	if (direct == 2)
	{
		/* the last attempt: a dead letter */
		values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
		nulls[1] = ' ';
		values[2] = error;
		nulls[2] = PG_ARGISNULL(3) ? 'n' : ' ';
		MqExecute(queue, MQ_STMT_NACK_DEAD, values, nulls, 0);
	}
	if (direct > 0)
	{
		nacked = true;
		MqStatsNacked(queue, direct == 2);
		/* a dead-lettered head lets its group move on; a retry keeps it */
		if (group_id != NULL && direct == 2)
			MqGroupRelease(queue, group_id, -1);
		/* a retry, now or later, changes when readers should look */
		MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT | MQ_WAKE_ON_ABORT |
						 (direct == 2 ? MQ_WAKE_STATUS_ON_COMMIT : 0));
	}
	MqEnd(&call);
	PG_RETURN_BOOL(nacked);
}

/*
 * Extend a lease to visibility_timeout from now.  Returns the new lease end,
 * or NULL if the message is not leased (never read, or nacked) or not on
 * attempt.  Like ack and nack, it is fenced by attempt, not by time: a lease
 * that expired but was not yet taken by another read can still be extended
 * by its holder.
 */
Datum
mq_extend(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	Datum		values[3];
	char		nulls[3];
	int64		vt;
	TimestampTz lease_end = 0;
	bool		isnull = true;
	int			direct;
	int32		attempt;
	char	   *group_id;

	mq_fence_args(fcinfo, 1, 3, values, nulls);
	MqArgNotNull(fcinfo, 2, "visibility_timeout");
	vt = MqIntervalUsecs(PG_GETARG_DATUM(2), "visibility_timeout", false);
	values[2] = TimestampTzGetDatum(MqAddUsecs(GetCurrentTimestamp(), vt));
	nulls[2] = ' ';

	queue = MqBegin(&call, name, MQ_PRIV_READ, false);
	lease_end = DatumGetTimestampTz(values[2]);
	direct = MqDirectNack(queue, DatumGetInt64(values[0]), nulls[1] != 'n',
						  DatumGetInt32(values[1]), false, 0, (Datum) 0, true,
						  &lease_end, &attempt, &group_id);
	if (direct >= 0)
		isnull = (direct == 0);
	else
	{
		MqExecute(queue, MQ_STMT_EXTEND, values, nulls, 0);
		/* the value, not a pointer into SPI's memory, outlives MqEnd */
		if (SPI_processed > 0)
			lease_end = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc,
														  1, &isnull));
	}
	MqEnd(&call);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(lease_end);
}
