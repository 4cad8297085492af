/*-------------------------------------------------------------------------
 *
 * send.c
 *	  mq_send and mq_send_batch: insert messages into a queue's live table.
 *
 * A send is an INSERT in the caller's transaction, so it is invisible to
 * readers until that transaction commits and vanishes if it rolls back.
 * Inserts take only the table's RowExclusiveLock and block nobody.  Each
 * send records its queue for the transaction's commit, which wakes the
 * readers waiting on it (wakeup.c).  A send with a group or a dedup key
 * also takes the row of its group or key (order.c).
 *
 * A plain send (no group, no dedup key within a dedup window) writes its
 * rows through the table and index access methods (direct.c) rather than
 * running the INSERT through SPI; the rows, locks and WAL are the same.
 * The others, and a table direct.c does not write, run the statements of
 * stmt.c and order.c.
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

#include "direct.h"
#include "mq.h"

PG_FUNCTION_INFO_V1(mq_send);
PG_FUNCTION_INFO_V1(mq_send_batch);

/*
 * Wake waiting readers (and notify listeners) once the send commits, and
 * count the n messages sent.
 */
static void
mq_sent(MqQueue *queue, uint64 n)
{
	MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT |
					 (queue->notify ? MQ_NOTIFY_ON_COMMIT : 0));
	MqStatsSent(queue, n);
}

/*
 * Send n messages with neither group nor dedup key straight into the live
 * table (direct.c), with the values mq_send_args filled in; their ids go to
 * msg_ids.  Returns false, having sent nothing, when the SQL INSERT must do
 * it (which raises for a priority on a table of 0.1).
 */
static bool
mq_send_direct(MqQueue *queue, const Datum *values, const char *nulls,
			   const Datum *bodies, int n, int32 priority, int64 *msg_ids)
{
	MqDirectSend send;

	if (priority != 0)
	{
		if (!queue->v2)
			return false;
		MqPriorityEnsure(queue);
	}
	send.visible_at = DatumGetTimestampTz(values[0]);
	send.enqueued_at = DatumGetTimestampTz(values[3]);
	send.headers = values[2];
	send.headers_null = nulls[2] == 'n';
	send.priority = priority;
	return MqDirectInsert(queue, &send, bodies, n, msg_ids);
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
	Datum		values[MQ_MAX_ARGS];
	char		nulls[MQ_MAX_ARGS];
	int64		msg_id;
	/* 0.2's arguments; 0.1 calls with four */
	char	   *group_id = MqArgKey(fcinfo, 4, "group_id");
	int32		priority = MqArgPriority(fcinfo, 5);
	char	   *dedup_key = MqArgKey(fcinfo, 6, "dedup_key");

	MqArgNotNull(fcinfo, 1, "body");
	MqCheckBody(PG_GETARG_DATUM(1), "body");
	mq_send_args(fcinfo, 2, values, nulls);
	values[1] = PG_GETARG_DATUM(1);
	nulls[1] = ' ';

	queue = MqBegin(&call, name, MQ_PRIV_SEND, false);
	/* a group or a dedup key that counts: the statements of order.c */
	if (group_id == NULL && (dedup_key == NULL || queue->dedup_window == 0) &&
		mq_send_direct(queue, values, nulls, &values[1], 1, priority, &msg_id))
		mq_sent(queue, 1);
	else
	{
		msg_id = MqSendOne(queue, values, nulls, group_id, priority, dedup_key);
		mq_sent(queue, SPI_processed);
	}
	MqEnd(&call);
	PG_RETURN_INT64(msg_id);
}

/*
 * The group_ids or dedup_keys of a batch (argument argno): NULL when the
 * argument is NULL or every element is; else one per body, NULL for none.
 */
static char **
mq_batch_keys(FunctionCallInfo fcinfo, int argno, const char *what,
			  const char *elem, int nbodies)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elemnulls;
	int			n;
	int			i;
	char	  **keys;
	bool		any = false;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &n);
	if (n != nbodies)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have as many elements as bodies", what),
				 errdetail("%s has %d elements, bodies has %d.", what, n, nbodies),
				 errhint("Use a NULL element for a message without a %s.", elem)));
	keys = palloc0(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
	{
		if (elemnulls[i])
			continue;
		keys[i] = MqCheckKey(DatumGetTextPP(elems[i]), elem);
		any = true;
	}
	return any ? keys : NULL;
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
	Datum		values[MQ_MAX_ARGS];
	char		nulls[MQ_MAX_ARGS];
	int32		priority = MqArgPriority(fcinfo, 5);
	char	  **group_ids = NULL;
	char	  **dedup_keys = NULL;
	int64	   *msg_ids;

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
	group_ids = mq_batch_keys(fcinfo, 4, "group_ids", "group_id", nelems);
	dedup_keys = mq_batch_keys(fcinfo, 6, "dedup_keys", "dedup_key", nelems);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	queue = MqBegin(&call, name, MQ_PRIV_SEND, false);
	if (nelems > 0 && group_ids == NULL && dedup_keys == NULL &&
		mq_send_direct(queue, values, nulls, elems, nelems, priority,
					   (msg_ids = palloc(sizeof(int64) * nelems))))
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

		for (i = 0; i < nelems; i++)
		{
			Datum		id = Int64GetDatum(msg_ids[i]);
			bool		isnull = false;

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
		}
		mq_sent(queue, nelems);
	}
	else if (nelems > 0 && group_ids == NULL && dedup_keys == NULL)
	{
		/* one INSERT for them all */
		if (priority != 0)
		{
			if (!queue->v2)
				MqSendOne(queue, values, nulls, NULL, priority, NULL);	/* raises */
			MqPriorityEnsure(queue);
			values[4] = Int32GetDatum(priority);
			nulls[4] = ' ';
		}
		MqExecute(queue, priority != 0 ? MQ_STMT_SEND_BATCH_PRIO : MQ_STMT_SEND_BATCH,
				  values, nulls, 0);
		mq_sent(queue, SPI_processed);
		MqReturnRows(fcinfo);
	}
	else if (nelems > 0)
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

		/*
		 * With groups or keys, each message is sent as mq_send would, in
		 * order: a key repeated in the batch finds its first message's row.
		 */
		for (i = 0; i < nelems; i++)
		{
			Datum		id;
			bool		isnull = false;

			values[1] = elems[i];
			id = Int64GetDatum(MqSendOne(queue, values, nulls,
										 group_ids ? group_ids[i] : NULL, priority,
										 dedup_keys ? dedup_keys[i] : NULL));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
		}
		mq_sent(queue, SPI_processed);
	}
	MqEnd(&call);
	return (Datum) 0;
}
