/*-------------------------------------------------------------------------
 *
 * order.c
 *	  Ordering and control for queues: priority, message groups, dedup
 *	  keys (the send side and the release of a group), and the options
 *	  that come with them.  The rate limit is in rate.c, pause in read.c.
 *
 * See "Ordering and control" in docs/design.md for the design; the
 * statements are in stmt.c (stmt_defs_v2).  In short:
 *
 * - Priority.  The first send of a non-zero priority to a queue sets the
 *   queue's "priorities" flag in mq.queue and builds the index on
 *   (priority DESC, visible_at, msg_id), in the sender's transaction; from
 *   then on reads of the queue pick from that index.  A queue that never
 *   had a priority keeps its 0.1 statements and indexes.
 * - Groups.  Only a group's head (its lowest live msg_id) is in the live
 *   table; its other messages wait in the queue's p_ table.  A read never
 *   sees them, and sees a head in flight, delayed or backing off at its
 *   future visible_at, beyond the range it scans: blocked groups cost reads
 *   nothing.  When the head leaves (ack, pop, dead letter) the next message
 *   of the group moves into the live table (MqGroupRelease).
 * - Dedup keys live in the queue's k_ table, with the msg_id and
 *   enqueued_at of the message that claimed them, until the worker purges
 *   them after the window.
 *
 * Locking.  The row of a group in g_ orders everything that changes the
 * group's membership: a send takes it (INSERT ... ON CONFLICT DO UPDATE)
 * before it decides whether its message is the head, and a release takes it
 * (UPDATE) before it decides whether to promote the next message; both
 * hold it until their transaction ends.  So a release that found the count
 * above zero promotes, in a later statement whose snapshot sees every
 * committed send counted, the lowest parked msg_id; and a send that found
 * the count at one (the group empty) knows no message of its group is live.
 * Readers never take it, so sends never block reads.  A release waits for a
 * send of the same group that has not committed (this is the only place
 * where an open send holds anything up: the ack of its group's head).
 * The dedup key's row in k_ orders two sends with one key the same way,
 * through its primary key.  The priority flag's row in mq.queue serialises
 * the first priority sends, so the index is built once; CREATE INDEX takes
 * a ShareLock on the live table, so that first send waits for the queue's
 * open writers and holds sends off until it commits (once per queue).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "mq.h"

/* Has the catalog of schema nspid the options of 0.2 (updated from 0.1)? */
bool
MqCatalogV2(Oid nspid)
{
	Oid			relid = get_relname_relid("queue", nspid);

	return OidIsValid(relid) && get_attnum(relid, "paused") != InvalidAttrNumber;
}

void
MqCheckRateLimit(int32 value)
{
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rate_limit must be greater than or equal to zero"),
				 errhint("Zero means no limit.")));
}

/*
 * The options of 0.2 from a catalog row (tup, from column firstcol on), or
 * their defaults for a 0.1 catalog (tup NULL); and whether the queue's
 * tables have 0.2's columns.
 */
void
MqOrderLoad(MqQueue *queue, HeapTuple tup, TupleDesc desc, int firstcol)
{
	bool		isnull;

	queue->v2 = get_attnum(queue->relid, "priority") != InvalidAttrNumber;
	queue->dedup_window = 0;
	queue->paused = false;
	queue->rate_limit = 0;
	queue->priorities = false;
	queue->group_hint = false;
	if (tup == NULL)
		return;
	queue->dedup_window = MqIntervalUsecs(SPI_getbinval(tup, desc, firstcol, &isnull),
										  "dedup_window", true);
	queue->paused = DatumGetBool(SPI_getbinval(tup, desc, firstcol + 1, &isnull));
	queue->rate_limit = DatumGetInt32(SPI_getbinval(tup, desc, firstcol + 2, &isnull));
	queue->priorities = DatumGetBool(SPI_getbinval(tup, desc, firstcol + 3, &isnull));
}

/* A group_id or dedup_key: 1 to MQ_KEY_MAXLEN characters. */
char *
MqCheckKey(text *t, const char *what)
{
	char	   *s = text_to_cstring(t);
	int			len = pg_mbstrlen(s);

	if (len < 1 || len > MQ_KEY_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be 1 to %d characters long", what, MQ_KEY_MAXLEN)));
	return s;
}

/* ... as argument argno; NULL when it is NULL (no group, no key). */
char *
MqArgKey(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	return MqCheckKey(PG_GETARG_TEXT_PP(argno), what);
}

/* A priority argument: -32768 to 32767; 0 when absent (a 0.1 call). */
int32
MqArgPriority(FunctionCallInfo fcinfo, int argno)
{
	int32		priority;

	if (PG_NARGS() <= argno)
		return 0;
	MqArgNotNull(fcinfo, argno, "priority");
	priority = PG_GETARG_INT32(argno);
	if (priority < PG_INT16_MIN || priority > PG_INT16_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("priority must be between %d and %d", PG_INT16_MIN, PG_INT16_MAX)));
	return priority;
}

/*
 * Give the queue its priority index, once: see the file header.  Reads of
 * other backends use it from their next call after this commits.
 */
void
MqPriorityEnsure(MqQueue *queue)
{
	Oid			argtype = TEXTOID;
	Datum		arg = CStringGetTextDatum(queue->name);

	if (queue->priorities)
		return;
	if (SPI_execute_with_args("UPDATE mq.queue SET priorities = true"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1"
							  " AND NOT priorities",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the catalog of queues");
	if (SPI_processed > 0)
	{
		/* CREATE INDEX waits for waiting reads unless they end now */
		MqWaitInterrupt(queue);
		if (SPI_execute(MqPriorityIndexSql(queue->name), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not create the priority index of queue \"%s\"",
				 queue->name);
		CacheInvalidateRelcacheByRelid(queue->relid);
	}
	/* else another transaction did it, and committed */
	queue->priorities = true;
}

static int64
mq_result_int64(int col, bool *isnull)
{
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									   col, isnull));
}

/*
 * Send one message: values and nulls hold $1 (visible_at), $2 (body), $3
 * (headers) and $4 (enqueued_at) and have room for MQ_MAX_ARGS.  Returns
 * its msg_id, or that of the message holding dedup_key.
 */
int64
MqSendOne(MqQueue *queue, Datum *values, char *nulls, const char *group_id,
		  int32 priority, const char *dedup_key)
{
	bool		dedup = dedup_key != NULL && queue->dedup_window > 0;
	bool		isnull;
	int64		msg_id;
	MqStmt		stmt = MQ_STMT_ENQUEUE;

	if (!queue->v2 && (group_id != NULL || dedup_key != NULL || priority != 0))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("queue \"%s\" has the tables of mq 0.1", queue->name),
				 errhint("Run ALTER EXTENSION mq UPDATE.")));
	if (priority != 0)
		MqPriorityEnsure(queue);

	/* the plain send, or with a priority: one INSERT */
	if (group_id == NULL && !dedup)
	{
		values[4] = Int32GetDatum(priority);
		nulls[4] = ' ';
		MqExecute(queue, priority != 0 ? MQ_STMT_SEND_PRIO : MQ_STMT_SEND,
				  values, nulls, 0);
		return mq_result_int64(1, &isnull);
	}

	MqExecute(queue, MQ_STMT_NEXT_ID, NULL, NULL, 0);
	msg_id = mq_result_int64(1, &isnull);

	if (dedup)
	{
		Datum		dvalues[4];
		int64		holder;

		dvalues[0] = CStringGetTextDatum(dedup_key);
		dvalues[1] = Int64GetDatum(msg_id);
		dvalues[2] = values[3];
		dvalues[3] = TimestampTzGetDatum(MqAddUsecs(GetCurrentTimestamp(),
													-queue->dedup_window));
		MqExecute(queue, MQ_STMT_DEDUP, dvalues, NULL, 0);
		holder = mq_result_int64(1, &isnull);
		if (holder != msg_id)
			return holder;
	}

	if (group_id != NULL)
	{
		Datum		g = CStringGetTextDatum(group_id);

		MqExecute(queue, MQ_STMT_GROUP_JOIN, &g, NULL, 0);
		/* the group's only live message is its head */
		if (mq_result_int64(1, &isnull) > 1)
			stmt = MQ_STMT_PARK;
	}

	values[4] = Int64GetDatum(msg_id);
	nulls[4] = ' ';
	values[5] = group_id ? CStringGetTextDatum(group_id) : (Datum) 0;
	nulls[5] = group_id ? ' ' : 'n';
	values[6] = Int32GetDatum(priority);
	nulls[6] = ' ';
	values[7] = (Datum) 0;
	nulls[7] = 'n';
	/* no topic, no routing key: a send is no copy of a publish */
	values[8] = values[9] = (Datum) 0;
	nulls[8] = nulls[9] = 'n';
	MqExecute(queue, stmt, values, nulls, 0);
	return msg_id;
}

/*
 * The head of group_id has left the live table (acked, popped or
 * dead-lettered) in this transaction: count it out of the group, unless
 * the caller's statement did (left: the count it left, else -1), and move
 * the group's next message into the live table.  Clobbers SPI_tuptable.
 */
void
MqGroupRelease(MqQueue *queue, const char *group_id, int64 left)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(group_id);
	if (left < 0)
	{
		bool		isnull;

		MqExecute(queue, MQ_STMT_GROUP_LEAVE, values, NULL, 0);
		left = SPI_processed > 0 ? mq_result_int64(1, &isnull) : 0;
	}
	if (left <= 0)
		return;
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	MqExecute(queue, MQ_STMT_GROUP_PROMOTE, values, NULL, 0);
	/* the next message is readable once we commit */
	if (SPI_processed > 0)
		MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT);
}
