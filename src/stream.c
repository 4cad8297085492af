/*-------------------------------------------------------------------------
 *
 * stream.c
 *	  Streams: append-only logs that consumer groups read by position, with
 *	  replay (mq_create_stream, mq_append, mq_append_batch, mq_consume,
 *	  mq_seek, mq_groups, mq_drop_group), and their retention.
 *
 * Storage (docs/design.md, "Streams").  A stream <s> is
 *   mq."s_<s>"    records, partitioned by RANGE (msg_id) into segments
 *                 mq."s<k>_<s>" holding msg_ids [k * 2^32, (k + 1) * 2^32),
 *                 each with an index on (partition, msg_id);
 *   mq."i_<s>"    the sequence of msg_ids;
 *   mq."g_<s>"    one row per (group, partition): next_msg_id, consumed_at;
 *   mq.segment    when each segment was opened and closed.
 * Records are only ever inserted.  A consume reads one partition from its
 * group's position with an index range scan and updates one row of g_ (the
 * position), whatever the number of records it returns.  The worker
 * rotates segments (setval to the start of the next one) and drops whole
 * segments past retention, so record tables are never vacuumed.
 *
 * The order of records (no consume passes a msg_id whose append may
 * still commit) is kept by stream_order.c, whose header has the argument.
 *
 * Partitions of a group.  A group's rows are made by its first consume
 * that finds records to deliver (or by mq_seek), so that a waiting consume
 * never sleeps on uncommitted rows.  A consume first ranks the group's partitions
 * without locking (those with records below their horizon first, then the
 * least recently consumed), then locks the first one it can with FOR
 * UPDATE SKIP LOCKED: it never waits for another consumer and holds one
 * partition until its transaction ends.  It locks only a partition that had
 * records to deliver; should another consumer have taken them meanwhile,
 * it returns what it found (nothing) at once rather than sleep holding the
 * partition, so a waiting consume never holds one while it sleeps.  Two
 * first consumes of a new group insert its rows with ON CONFLICT DO
 * NOTHING: the second waits for the first's transaction.  Appends insert
 * straight into the segment of their msg_ids (no tuple routing), through
 * the table access method (direct.c, MqDirectAppend) unless the segment's
 * table needs the SQL INSERT.
 *
 * Segments and locks.  A consume's plan locks every segment (AccessShare),
 * an append the parent and the segment it writes (RowExclusive).  The
 * worker attaches the next segment (ShareUpdateExclusive on the parent,
 * which blocks neither) and drops old ones (AccessExclusive, with
 * lock_timeout, retried the next pass if it cannot have it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type_d.h"
#include "commands/sequence.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "direct.h"
#include "mq.h"
#include "stream.h"

PG_FUNCTION_INFO_V1(mq_create_stream);
PG_FUNCTION_INFO_V1(mq_append);
PG_FUNCTION_INFO_V1(mq_append_batch);
PG_FUNCTION_INFO_V1(mq_consume);
PG_FUNCTION_INFO_V1(mq_seek);
PG_FUNCTION_INFO_V1(mq_groups);
PG_FUNCTION_INFO_V1(mq_drop_group);

#define MQ_STREAM_KEY_MAXLEN			1024

#define EQ " OPERATOR(pg_catalog.=) "
#define LT " OPERATOR(pg_catalog.<) "
#define GE " OPERATOR(pg_catalog.>=) "

/* The statements on a stream's tables: %S is the records, %G the groups. */
typedef enum MqStreamStmt
{
	SS_APPEND,
	SS_APPEND_BATCH,
	SS_PICK,
	SS_PICK_NEW,
	SS_LOCK,
	SS_READ,
	SS_ADVANCE,
	SS_CREATE_GROUP,
	SS_SEEK_ID,
	SS_SEEK_AT,
	SS_GROUPS,
	SS_DROP_GROUP,
	SS_METRICS,
	SS_NUM
} MqStreamStmt;

typedef struct MqStreamStmtDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[8];
} MqStreamStmtDef;

#define RECORD_COLUMNS "msg_id, partition, key, appended_at, body, headers"

static const MqStreamStmtDef stream_stmts[SS_NUM] = {
	/* topic and routing_key: NULL for an append, set for a published copy */
	[SS_APPEND] = {
		"INSERT INTO %S (" RECORD_COLUMNS ", topic, routing_key)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		8, {INT8OID, INT4OID, TEXTOID, TIMESTAMPTZOID, JSONBOID, JSONBOID, TEXTOID, TEXTOID}
	},
	[SS_APPEND_BATCH] = {
		"INSERT INTO %S (" RECORD_COLUMNS ")"
		" SELECT u.i, u.p, u.k, $4, u.b, $5"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
		" pg_catalog.unnest($3), pg_catalog.unnest($6)) AS u(i, p, k, b)",
		6, {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TIMESTAMPTZOID, JSONBOID, JSONBARRAYOID}
	},
	/*
	 * A group's partitions, those with records below their horizon ($2)
	 * first.  Whether a partition has records is the first msg_id after the
	 * position (ORDER BY msg_id LIMIT 1: one descent of the index); an
	 * EXISTS would let the planner choose a bitmap scan, which reads every
	 * entry after the position, so that a consume would cost in proportion
	 * to the group's lag.
	 */
	[SS_PICK] = {
		"SELECT g.partition, (SELECT s.msg_id FROM %S s"
		" WHERE s.partition" EQ "g.partition AND s.msg_id" GE "g.next_msg_id"
		" AND s.msg_id" LT "($2)[g.partition OPERATOR(pg_catalog.+) 1]"
		" ORDER BY s.msg_id LIMIT 1) IS NOT NULL AS ready"
		" FROM %G g WHERE g.group_name" EQ "$1"
		" ORDER BY 2 DESC, g.consumed_at NULLS FIRST, g.partition",
		2, {TEXTOID, INT8ARRAYOID}
	},
	/* for a group that does not exist yet: has any partition records? */
	[SS_PICK_NEW] = {
		"SELECT p FROM pg_catalog.generate_series(0, $2 OPERATOR(pg_catalog.-) 1) p"
		" WHERE (SELECT s.msg_id FROM %S s WHERE s.partition" EQ "p"
		" AND s.msg_id" LT "($1)[p OPERATOR(pg_catalog.+) 1]"
		" ORDER BY s.msg_id LIMIT 1) IS NOT NULL LIMIT 1",
		2, {INT8ARRAYOID, INT4OID}
	},
	[SS_LOCK] = {
		"SELECT next_msg_id FROM %G WHERE group_name" EQ "$1"
		" AND partition" EQ "$2 FOR UPDATE SKIP LOCKED",
		2, {TEXTOID, INT4OID}
	},
	[SS_READ] = {
		"SELECT " RECORD_COLUMNS ", topic, routing_key FROM %S"
		" WHERE partition" EQ "$1 AND msg_id" GE "$2 AND msg_id" LT "$3"
		" ORDER BY msg_id LIMIT $4",
		4, {INT4OID, INT8OID, INT8OID, INT4OID}
	},
	[SS_ADVANCE] = {
		"UPDATE %G SET next_msg_id = $3, consumed_at = $4"
		" WHERE group_name" EQ "$1 AND partition" EQ "$2",
		4, {TEXTOID, INT4OID, INT8OID, TIMESTAMPTZOID}
	},
	/* a new group starts at the earliest retained record */
	[SS_CREATE_GROUP] = {
		"INSERT INTO %G (group_name, partition, next_msg_id)"
		" SELECT $1, p, 0 FROM pg_catalog.generate_series(0, $2 OPERATOR(pg_catalog.-) 1) p"
		" ON CONFLICT (group_name, partition) DO NOTHING",
		2, {TEXTOID, INT4OID}
	},
	[SS_SEEK_ID] = {
		"UPDATE %G SET next_msg_id = $2 WHERE group_name" EQ "$1",
		2, {TEXTOID, INT8OID}
	},
	/* the first record appended at or after $2, else the horizon ($3) */
	[SS_SEEK_AT] = {
		"UPDATE %G g SET next_msg_id = COALESCE((SELECT pg_catalog.min(s.msg_id)"
		" FROM %S s WHERE s.partition" EQ "g.partition AND s.appended_at" GE "$2"
		" AND s.msg_id" LT "($3)[g.partition OPERATOR(pg_catalog.+) 1]),"
		" ($3)[g.partition OPERATOR(pg_catalog.+) 1])"
		" WHERE g.group_name" EQ "$1",
		3, {TEXTOID, TIMESTAMPTZOID, INT8ARRAYOID}
	},
	[SS_GROUPS] = {
		"SELECT g.group_name::pg_catalog.text, g.partition, g.next_msg_id,"
		" (SELECT pg_catalog.count(*) FROM %S s WHERE s.partition" EQ "g.partition"
		" AND s.msg_id" GE "g.next_msg_id), g.consumed_at"
		" FROM %G g ORDER BY g.group_name, g.partition",
		0, {0}
	},
	[SS_DROP_GROUP] = {
		"DELETE FROM %G WHERE group_name" EQ "$1",
		1, {TEXTOID}
	},
	[SS_METRICS] = {
		"SELECT pg_catalog.count(*), $1 OPERATOR(pg_catalog.-) pg_catalog.min(appended_at)"
		" FROM %S",
		1, {TIMESTAMPTZOID}
	},
};

/* What a backend keeps of a stream besides its MqQueue entry. */
typedef struct MqStream
{
	Oid			seqid;			/* the sequence of msg_ids */
	SPIPlanPtr	plans[SS_NUM];
	/* appends insert straight into the segment of their msg_ids */
	int64		append_segment;
	SPIPlanPtr	append_plans[2];	/* SS_APPEND, SS_APPEND_BATCH */
} MqStream;

static uint32 round_robin = 0;

static Datum
mq_horizons_array(MqQueue *stream, int64 *h)
{
	Datum	   *elems = palloc(sizeof(Datum) * stream->partitions);
	int			p;

	for (p = 0; p < stream->partitions; p++)
		elems[p] = Int64GetDatum(h[p]);
	return PointerGetDatum(construct_array(elems, stream->partitions, INT8OID,
										   8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2). */
static int32
mq_murmur2(const unsigned char *data, int len)
{
	const uint32 m = 0x5bd1e995;
	const int	r = 24;
	uint32		h = 0x9747b28c ^ (uint32) len;
	int			len4 = len / 4;
	int			i;

	for (i = 0; i < len4; i++)
	{
		int			i4 = i * 4;
		uint32		k = (uint32) data[i4] | ((uint32) data[i4 + 1] << 8) |
			((uint32) data[i4 + 2] << 16) | ((uint32) data[i4 + 3] << 24);

		k *= m;
		k ^= k >> r;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (len % 4)
	{
		case 3:
			h ^= (uint32) data[(len & ~3) + 2] << 16;
			/* FALLTHROUGH */
		case 2:
			h ^= (uint32) data[(len & ~3) + 1] << 8;
			/* FALLTHROUGH */
		case 1:
			h ^= (uint32) data[len & ~3];
			h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return (int32) h;
}

/*
 * The partition of a record: Kafka's default partitioner for a key,
 * toPositive(murmur2(UTF-8 bytes of key)) % partitions; round robin per
 * session for a NULL key.
 */
static int
mq_partition_of(MqQueue *stream, text *key)
{
	const char *bytes;
	int			len;

	if (key == NULL)
	{
		/* sessions start at different partitions, so short ones spread too */
		if (round_robin == 0)
			round_robin = (uint32) MyProcPid;
		return (int) (round_robin++ % (uint32) stream->partitions);
	}
	bytes = VARDATA_ANY(key);
	len = VARSIZE_ANY_EXHDR(key);
	if (GetDatabaseEncoding() != PG_UTF8)
	{
		bytes = (const char *) pg_server_to_any(bytes, len, PG_UTF8);
		len = strlen(bytes);
	}
	return (int) (((uint32) mq_murmur2((const unsigned char *) bytes, len) & 0x7fffffff) %
				  (uint32) stream->partitions);
}

static void
mq_check_key(text *key)
{
	if (VARSIZE_ANY_EXHDR(key) > MQ_STREAM_KEY_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key must not exceed %d bytes", MQ_STREAM_KEY_MAXLEN)));
}

#define HINT_SEND "Send to a queue with mq_send()."
#define HINT_READ "Read a queue with mq_read()."
#define HINT_GROUPS "Queues have no consumer groups; read them with mq_read()."

/* Names of streams and groups follow the rules of queue names. */
static char *
mq_arg_name(FunctionCallInfo fcinfo, int argno, const char *what)
{
	char	   *name;
	size_t		len;
	const char *p;

	MqArgNotNull(fcinfo, argno, what);
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	len = strlen(name);
	if (len == 0 || len > MQ_NAME_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s name", what),
				 errdetail("A %s name must be 1 to %d characters long.", what,
						   MQ_NAME_MAXLEN)));
	for (p = name; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s name", what),
					 errdetail("A %s name may contain only ASCII letters, digits, \"_\" and \"-\".",
							   what)));
	}
	return name;
}

static char *
mq_stream_table(char kind, const char *name)
{
	return quote_qualified_identifier(MQ_SCHEMA, psprintf("%c_%s", kind, name));
}

static char *
mq_segment_name(const char *name, int64 segment)
{
	return psprintf("s" INT64_FORMAT "_%s", segment, name);
}

/*
 * A queue function given a stream: 42809, with a hint naming the function
 * to use (chosen by the privilege the call needs).
 */
void
MqWrongKind(MqQueue *queue, MqPrivilege priv)
{
	priv &= ~MQ_ANY_KIND;
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is a stream, not a queue", queue->name),
			 priv == MQ_PRIV_SEND ? errhint("Append to a stream with mq_append().") :
			 (priv & MQ_PRIV_READ) ? errhint("Consume a stream with mq_consume().") :
			 errhint("A stream loses records by its retention; drop it with mq_drop().")));
}

/*
 * Start a call of a stream function on stream name: as MqBegin, then the
 * kind (after the privilege, so that it is not revealed).  Loads the
 * stream's own state (sequence, plans) on first use.
 */
static MqQueue *
mq_stream_check(MqCall *call, MqQueue *queue, const char *name, const char *hint);

/* A stream's own state (sequence, plans), made at its first use. */
static void
mq_stream_load(MqQueue *queue, Oid nspid)
{
	MqStream   *st;

	if (queue->stream != NULL)
		return;
	st = MemoryContextAllocZero(TopMemoryContext, sizeof(MqStream));
	st->seqid = get_relname_relid(psprintf("i_%s", queue->name), nspid);
	if (!OidIsValid(st->seqid))
	{
		pfree(st);
		elog(ERROR, "sequence of stream \"%s\" does not exist", queue->name);
	}
	queue->stream = st;
}

static MqQueue *
mq_stream_begin(MqCall *call, const char *name, MqPrivilege priv, const char *hint)
{
	return mq_stream_check(call, MqBegin(call, name, priv | MQ_ANY_KIND | MQ_STREAM_CALL, true),
						   name, hint);
}

/* Look the stream up again during a wait (the privilege too). */
static MqQueue *
mq_stream_begin_again(MqCall *call, const char *name)
{
	MqQueue    *queue = MqLookup(call, name, true);

	if (queue != NULL && !MqHasPrivilege(call, queue, MQ_PRIV_READ))
		MqPrivilegeDenied("stream", queue->name, MQ_PRIV_READ);
	return mq_stream_check(call, queue, name, HINT_READ);
}

static MqQueue *
mq_stream_check(MqCall *call, MqQueue *queue, const char *name, const char *hint)
{
	if (queue == NULL)
	{
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" does not exist", name),
				 errhint("Create it with mq_create_stream().")));
	}
	if (queue->kind != MQ_KIND_STREAM)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a queue, not a stream", name),
				 errhint("%s", hint)));
	mq_stream_load(queue, call->nspid);
	return queue;
}


void
MqStreamFree(MqQueue *queue)
{
	MqStream   *st = queue->stream;
	int			i;

	if (st == NULL)
		return;
	for (i = 0; i < SS_NUM; i++)
	{
		if (st->plans[i] != NULL)
			SPI_freeplan(st->plans[i]);
	}
	for (i = 0; i < 2; i++)
	{
		if (st->append_plans[i] != NULL)
			SPI_freeplan(st->append_plans[i]);
	}
	pfree(st);
	queue->stream = NULL;
}

static SPIPlanPtr mq_stream_prepare(MqQueue *queue, MqStreamStmt stmt, const char *records);

static SPIPlanPtr
mq_stream_plan(MqQueue *queue, MqStreamStmt stmt)
{
	MqStream   *st = queue->stream;

	if (st->plans[stmt] == NULL)
		st->plans[stmt] = mq_stream_prepare(queue, stmt, mq_stream_table('s', queue->name));
	return st->plans[stmt];
}

/*
 * An append's statement inserting into segment's table itself rather than
 * the partitioned table: no tuple routing (the partition constraint is
 * still checked).  The segment an append goes to changes at rotations only.
 */
static SPIPlanPtr
mq_stream_append_plan(MqQueue *queue, MqStreamStmt stmt, int64 segment)
{
	MqStream   *st = queue->stream;
	int			i = stmt == SS_APPEND ? 0 : 1;

	Assert(stmt == SS_APPEND || stmt == SS_APPEND_BATCH);
	if (st->append_segment != segment)
	{
		for (i = 0; i < 2; i++)
		{
			if (st->append_plans[i] != NULL)
				SPI_freeplan(st->append_plans[i]);
			st->append_plans[i] = NULL;
		}
		st->append_segment = segment;
		i = stmt == SS_APPEND ? 0 : 1;
	}
	if (st->append_plans[i] == NULL)
		st->append_plans[i] =
			mq_stream_prepare(queue, stmt,
							  quote_qualified_identifier(MQ_SCHEMA,
														 mq_segment_name(queue->name, segment)));
	return st->append_plans[i];
}

static SPIPlanPtr
mq_stream_prepare(MqQueue *queue, MqStreamStmt stmt, const char *records)
{
	const char *p = stream_stmts[stmt].sql;
	StringInfoData buf;
	SPIPlanPtr	plan;

	initStringInfo(&buf);
	while (*p)
	{
		if (p[0] == '%' && p[1] == 'S')
		{
			appendStringInfoString(&buf, records);
			p += 2;
		}
		else if (p[0] == '%' && p[1] == 'G')
		{
			appendStringInfoString(&buf, mq_stream_table('g', queue->name));
			p += 2;
		}
		else
			appendStringInfoChar(&buf, *p++);
	}
	plan = SPI_prepare_cursor(buf.data, stream_stmts[stmt].nargs,
							  (Oid *) stream_stmts[stmt].argtypes,
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", buf.data,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * Run a statement of a stream.  With latest, under the latest snapshot
 * rather than the transaction's: consumes must see what committed before
 * their horizons were taken, whatever the isolation level.
 */
static int
mq_stream_exec_plan(SPIPlanPtr plan, Datum *values, const char *nulls, long count,
					bool latest);

static int
mq_stream_exec(MqQueue *queue, MqStreamStmt stmt, Datum *values,
			   const char *nulls, long count, bool latest)
{
	return mq_stream_exec_plan(mq_stream_plan(queue, stmt), values, nulls, count, latest);
}

static int
mq_stream_exec_plan(SPIPlanPtr plan, Datum *values, const char *nulls, long count,
					bool latest)
{
	int			rc;

	if (latest)
	{
		Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());

		rc = SPI_execute_snapshot(plan, values, nulls, snapshot, InvalidSnapshot,
								  false, true, count);
		UnregisterSnapshot(snapshot);
	}
	else
		rc = SPI_execute_plan(plan, values, nulls, false, count);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return rc;
}

/*
 * mq_create (queue.c) and mq_create_stream found name taken: fine (false)
 * if it is an object of the same kind the caller owns or manages, 42710
 * otherwise.
 */
void
MqCheckExisting(MqCall *call, const char *name, char kind)
{
	MqQueue    *existing = MqLookup(call, name, true);

	/* a topic of that name (topics have no tables to look up) */
	if (existing == NULL && MqTopicLookup(call, name) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("name \"%s\" is already taken", name),
				 errhint("Queues, streams and topics share one namespace.")));
	/* gone again (a concurrent drop): "existed" is still a true answer */
	if (existing == NULL)
		return;
	if (existing->kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("%s \"%s\" already exists",
						existing->kind == MQ_KIND_STREAM ? "stream" : "queue", name),
				 errhint("Queues and streams share one namespace; choose another name.")));
	if (!MqHasPrivilege(call, existing, MQ_PRIV_MANAGE))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("%s \"%s\" already exists",
						kind == MQ_KIND_STREAM ? "stream" : "queue", name),
				 errdetail("It belongs to another role.")));
}

static void
mq_create_segment(const char *name, int64 segment, bool unlogged, bool attach)
{
	char	   *seg = quote_qualified_identifier(MQ_SCHEMA, mq_segment_name(name, segment));
	char	   *sql;

	if (attach)
		sql = psprintf("CREATE %s TABLE %s (LIKE %s);"
					   " ALTER TABLE %s ATTACH PARTITION %s"
					   " FOR VALUES FROM (" INT64_FORMAT ") TO (" INT64_FORMAT ")",
					   unlogged ? "UNLOGGED" : "", seg, mq_stream_table('s', name),
					   mq_stream_table('s', name), seg,
					   MQ_SEGMENT_START(segment), MQ_SEGMENT_START(segment + 1));
	else
		sql = psprintf("CREATE %s TABLE %s PARTITION OF %s"
					   " FOR VALUES FROM (" INT64_FORMAT ") TO (" INT64_FORMAT ")",
					   unlogged ? "UNLOGGED" : "", seg, mq_stream_table('s', name),
					   MQ_SEGMENT_START(segment), MQ_SEGMENT_START(segment + 1));
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create a segment of stream \"%s\"", name);
}

Datum
mq_create_stream(PG_FUNCTION_ARGS)
{
	char	   *name = mq_arg_name(fcinfo, 0, "stream");
	int32		partitions;
	bool		unlogged;
	MqCall		call;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Oid			argtypes[5] = {TEXTOID, OIDOID, INTERVALOID, BOOLOID, INT4OID};
	bool		created;

	MqArgNotNull(fcinfo, 1, "partitions");
	MqArgNotNull(fcinfo, 3, "unlogged");
	partitions = PG_GETARG_INT32(1);
	unlogged = PG_GETARG_BOOL(3);
	if (partitions < 1 || partitions > MQ_MAX_PARTITIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partitions must be between 1 and %d", MQ_MAX_PARTITIONS)));
	/* NULL or zero: keep records until the stream is dropped */
	if (PG_ARGISNULL(2) || MqIntervalUsecs(PG_GETARG_DATUM(2), "retention", true) == 0)
		nulls[2] = 'n';

	MqBegin(&call, NULL, 0, true);
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(call.caller);
	values[2] = nulls[2] == 'n' ? (Datum) 0 : PG_GETARG_DATUM(2);
	values[3] = BoolGetDatum(unlogged);
	values[4] = Int32GetDatum(partitions);
	if (SPI_execute_with_args("INSERT INTO mq.queue (queue_name, owner, retention,"
							  " unlogged, kind, partitions)"
							  " VALUES ($1, $2, $3, $4, 'stream', $5)"
							  " ON CONFLICT (queue_name) DO NOTHING",
							  5, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into the catalog of queues");
	created = (SPI_processed == 1);
	if (!created)
		MqCheckExisting(&call, name, MQ_KIND_STREAM);
	else
	{
		char	   *records = mq_stream_table('s', name);

		if (SPI_execute(psprintf("CREATE TABLE %1$s ("
								 " msg_id pg_catalog.int8 NOT NULL,"
								 " partition pg_catalog.int4 NOT NULL,"
								 " key pg_catalog.text,"
								 " appended_at pg_catalog.timestamptz NOT NULL,"
								 " body pg_catalog.jsonb NOT NULL,"
								 " headers pg_catalog.jsonb,"
								 " topic pg_catalog.text,"
								 " routing_key pg_catalog.text)"
								 " PARTITION BY RANGE (msg_id);"
								 "CREATE INDEX %2$s ON %1$s (partition, msg_id);"
								 "CREATE %3$s SEQUENCE %4$s AS pg_catalog.int8"
								 " OWNED BY %1$s.msg_id;"
								 "CREATE %3$s TABLE %5$s ("
								 " group_name pg_catalog.text COLLATE \"C\" NOT NULL,"
								 " partition pg_catalog.int4 NOT NULL,"
								 " next_msg_id pg_catalog.int8 NOT NULL,"
								 " consumed_at pg_catalog.timestamptz,"
								 " PRIMARY KEY (group_name, partition))",
								 records,
								 quote_identifier(psprintf("s_%s_position", name)),
								 unlogged ? "UNLOGGED" : "",
								 mq_stream_table('i', name),
								 mq_stream_table('g', name)),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not create the tables of stream \"%s\"", name);
		/* the segment appends go to, and the next one */
		mq_create_segment(name, 0, unlogged, false);
		mq_create_segment(name, 1, unlogged, false);
		if (SPI_execute_with_args("INSERT INTO mq.segment (stream_name, segment, opened_at)"
								  " VALUES ($1, 0, pg_catalog.now())",
								  1, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into the catalog of segments");
	}
	MqEnd(&call);
	PG_RETURN_BOOL(created);
}

/* Wake waiting consumers when appends end: commit or abort (holes). */
static void
mq_appended(MqQueue *stream)
{
	MqWakeupRegister(stream, MQ_WAKE_ON_COMMIT | MQ_WAKE_ON_ABORT);
}

/*
 * Insert n records, all of one segment, straight into that segment without
 * SPI (direct.c, MqDirectAppend): the same rows the append's INSERT would
 * write.  false if the caller must run the INSERT.
 */
static bool
mq_direct_append(MqQueue *stream, Oid nspid, const MqDirectRecord *rec, int n,
				 const int64 *msg_ids, const int32 *partitions, const Datum *keys,
				 const bool *keynulls, const Datum *bodies)
{
	Oid			segrel;

	segrel = get_relname_relid(mq_segment_name(stream->name,
											   msg_ids[0] >> MQ_SEGMENT_BITS),
							   nspid);
	if (!OidIsValid(segrel))
		return false;
	return MqDirectAppend(segrel, rec, n, msg_ids, partitions, keys, keynulls, bodies);
}

/*
 * Append one record to stream: what mq_append does once it has checked
 * its arguments and the caller's privilege, and what mq_publish does for
 * each bound stream (topic.c).  key, headers, topic and routing_key may be
 * NULL ((Datum) 0 for the Datums).  Publishes the append's mark before
 * taking the msg_id (stream_order.c), and wakes waiting consumes when the
 * transaction ends.  Returns the msg_id.
 */
int64
MqStreamAppend(MqQueue *stream, Oid nspid, text *key, Datum body, Datum headers,
			   Datum topic, Datum routing_key)
{
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		parts[MQ_MAX_PARTITIONS] = {0};
	int32		partition;
	int64		msg_id;
	bool		keynull = (key == NULL);
	MqDirectRecord rec;

	mq_stream_load(stream, nspid);
	partition = mq_partition_of(stream, key);
	parts[partition] = true;
	MqStreamMarkBegin(stream, parts);
	msg_id = nextval_internal(stream->stream->seqid, false);
	MqStreamMarkFirst(stream, msg_id);

	values[0] = Int64GetDatum(msg_id);
	values[1] = Int32GetDatum(partition);
	values[2] = key == NULL ? (Datum) 0 : PointerGetDatum(key);
	nulls[2] = key == NULL ? 'n' : ' ';
	values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[4] = body;
	values[5] = headers;
	nulls[5] = headers == (Datum) 0 ? 'n' : ' ';
	values[6] = topic;
	nulls[6] = topic == (Datum) 0 ? 'n' : ' ';
	values[7] = routing_key;
	nulls[7] = routing_key == (Datum) 0 ? 'n' : ' ';
	rec.appended_at = DatumGetTimestampTz(values[3]);
	rec.headers = headers;
	rec.headers_null = headers == (Datum) 0;
	rec.topic = topic;
	rec.topic_null = topic == (Datum) 0;
	rec.routing_key = routing_key;
	rec.routing_key_null = routing_key == (Datum) 0;
	if (!mq_direct_append(stream, nspid, &rec, 1, &msg_id, &partition, &values[2],
						  &keynull, &body))
		mq_stream_exec_plan(mq_stream_append_plan(stream, SS_APPEND,
												  msg_id >> MQ_SEGMENT_BITS),
							values, nulls, 0, false);
	mq_appended(stream);
	MqStatsSent(stream, 1);
	return msg_id;
}

Datum
mq_append(PG_FUNCTION_ARGS)
{
	char	   *name = mq_arg_name(fcinfo, 0, "stream");
	text	   *key = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	MqCall		call;
	MqQueue    *stream;
	int64		msg_id;

	MqArgNotNull(fcinfo, 1, "body");
	MqCheckBody(PG_GETARG_DATUM(1), "body");
	if (key != NULL)
		mq_check_key(key);
	if (!PG_ARGISNULL(3))
		MqCheckHeaders(PG_GETARG_DATUM(3));

	stream = mq_stream_begin(&call, name, MQ_PRIV_SEND, HINT_SEND);
	msg_id = MqStreamAppend(stream, call.nspid, key, PG_GETARG_DATUM(1),
							PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3),
							(Datum) 0, (Datum) 0);
	MqEnd(&call);
	PG_RETURN_INT64(msg_id);
}

Datum
mq_append_batch(PG_FUNCTION_ARGS)
{
	char	   *name = mq_arg_name(fcinfo, 0, "stream");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *bodies;
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	Datum	   *keys = NULL;
	bool	   *keynulls = NULL;
	int			nkeys = 0;
	MqCall		call;
	MqQueue    *stream;
	bool		parts[MQ_MAX_PARTITIONS] = {0};
	Datum	   *ids;
	Datum	   *partitions;
	int			i;

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
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *karr = PG_GETARG_ARRAYTYPE_P(2);

		if (ARR_NDIM(karr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("keys must be a one-dimensional array")));
		deconstruct_array(karr, TEXTOID, -1, false, TYPALIGN_INT,
						  &keys, &keynulls, &nkeys);
		if (nkeys != nelems)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("keys must have as many elements as bodies"),
					 errdetail("bodies has %d elements, keys %d.", nelems, nkeys)));
		for (i = 0; i < nkeys; i++)
		{
			if (!keynulls[i])
				mq_check_key(DatumGetTextPP(keys[i]));
		}
	}
	if (!PG_ARGISNULL(3))
		MqCheckHeaders(PG_GETARG_DATUM(3));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	stream = mq_stream_begin(&call, name, MQ_PRIV_SEND, HINT_SEND);
	if (nelems > 0)
	{
		Datum		values[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
		int			dims[1] = {nelems};
		int			lbs[1] = {1};
		bool	   *knulls = palloc0(sizeof(bool) * nelems);

		ids = palloc(sizeof(Datum) * nelems);
		partitions = palloc(sizeof(Datum) * nelems);
		for (i = 0; i < nelems; i++)
		{
			int			p = mq_partition_of(stream, (keys == NULL || keynulls[i]) ?
											NULL : DatumGetTextPP(keys[i]));

			partitions[i] = Int32GetDatum(p);
			parts[p] = true;
			knulls[i] = (keys == NULL || keynulls[i]);
		}
		MqStreamMarkBegin(stream, parts);
		for (i = 0; i < nelems; i++)
		{
			int64		id = nextval_internal(stream->stream->seqid, false);

			if (i == 0)
				MqStreamMarkFirst(stream, id);
			ids[i] = Int64GetDatum(id);
		}
		values[0] = PointerGetDatum(construct_array(ids, nelems, INT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[1] = PointerGetDatum(construct_array(partitions, nelems, INT4OID, 4,
													true, TYPALIGN_INT));
		/* without keys, an array of NULLs (knulls are all set) */
		values[2] = PointerGetDatum(construct_md_array(keys != NULL ? keys : ids, knulls,
													   1, dims, lbs, TEXTOID, -1, false,
													   TYPALIGN_INT));
		values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		values[4] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
		nulls[4] = PG_ARGISNULL(3) ? 'n' : ' ';
		values[5] = PointerGetDatum(bodies);
		/* one segment (almost always), or let the partitioned table route */
		if ((DatumGetInt64(ids[0]) >> MQ_SEGMENT_BITS) ==
			(DatumGetInt64(ids[nelems - 1]) >> MQ_SEGMENT_BITS))
		{
			MqDirectRecord rec;
			int64	   *msg_ids = palloc(sizeof(int64) * nelems);
			int32	   *parts32 = palloc(sizeof(int32) * nelems);

			rec.appended_at = DatumGetTimestampTz(values[3]);
			rec.headers = values[4];
			rec.headers_null = nulls[4] == 'n';
			rec.topic = rec.routing_key = (Datum) 0;
			rec.topic_null = rec.routing_key_null = true;
			for (i = 0; i < nelems; i++)
			{
				msg_ids[i] = DatumGetInt64(ids[i]);
				parts32[i] = DatumGetInt32(partitions[i]);
			}
			if (!mq_direct_append(stream, call.nspid, &rec, nelems, msg_ids, parts32,
								  keys != NULL ? keys : ids, knulls, elems))
				mq_stream_exec_plan(mq_stream_append_plan(stream, SS_APPEND_BATCH,
														  DatumGetInt64(ids[0]) >> MQ_SEGMENT_BITS),
									values, nulls, 0, false);
		}
		else
			mq_stream_exec(stream, SS_APPEND_BATCH, values, nulls, 0, false);
		mq_appended(stream);
		MqStatsSent(stream, nelems);
		for (i = 0; i < nelems; i++)
		{
			bool		isnull = false;

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &ids[i], &isnull);
		}
	}
	MqEnd(&call);
	return (Datum) 0;
}

/* Create a group's rows (one per partition) if it has none. */
static void
mq_create_group(MqQueue *stream, const char *group)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(group);
	values[1] = Int32GetDatum(stream->partitions);
	mq_stream_exec(stream, SS_CREATE_GROUP, values, NULL, 0, true);
}

typedef enum MqConsumeResult
{
	MQ_CONSUMED,				/* records returned, position moved */
	MQ_NOTHING,					/* no partition taken */
	MQ_TAKEN_EMPTY				/* a partition taken, emptied meanwhile */
} MqConsumeResult;

/*
 * One attempt of mq_consume: take a partition of the group with records to
 * deliver, return up to qty of them and move the position past them.
 */
static MqConsumeResult
mq_consume_once(FunctionCallInfo fcinfo, MqQueue *stream, const char *group, int32 qty)
{
	int64		h[MQ_MAX_PARTITIONS];
	Datum		values[4];
	int		   *cands;
	int			ncands = 0;
	uint64		i;
	bool		isnull;

	MqStreamHorizons(stream, stream->stream->seqid, h);
	values[0] = CStringGetTextDatum(group);
	values[1] = mq_horizons_array(stream, h);
	mq_stream_exec(stream, SS_PICK, values, NULL, 0, true);
	if (SPI_processed == 0)
	{
		Datum		newvalues[2];

		/*
		 * A new group.  Its rows are made only when there is something to
		 * consume, so that a waiting consume never sleeps on uncommitted
		 * rows that another first consume of the group would wait for.
		 */
		newvalues[0] = values[1];
		newvalues[1] = Int32GetDatum(stream->partitions);
		mq_stream_exec(stream, SS_PICK_NEW, newvalues, NULL, 0, true);
		if (SPI_processed == 0)
			return MQ_NOTHING;
		mq_create_group(stream, group);
		mq_stream_exec(stream, SS_PICK, values, NULL, 0, true);
	}
	cands = palloc(sizeof(int) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];

		if (!DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)))
			break;
		cands[ncands++] = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	for (i = 0; i < ncands; i++)
	{
		int			p = cands[i];
		int64		next;
		int64		last;

		values[1] = Int32GetDatum(p);
		mq_stream_exec(stream, SS_LOCK, values, NULL, 0, true);
		if (SPI_processed == 0)
			continue;			/* another consumer of the group has it */
		next = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   1, &isnull));
		/* if this rolls back, the partition is free again */
		MqWakeupRegister(stream, MQ_WAKE_ON_COMMIT | MQ_WAKE_ON_ABORT);

		values[0] = Int32GetDatum(p);
		values[1] = Int64GetDatum(next);
		values[2] = Int64GetDatum(h[p]);
		values[3] = Int32GetDatum(qty);
		mq_stream_exec(stream, SS_READ, values, NULL, 0, true);
		if (SPI_processed == 0)
			return MQ_TAKEN_EMPTY;
		last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[SPI_processed - 1],
										   SPI_tuptable->tupdesc, 1, &isnull));
		MqReturnRows(fcinfo);
		MqStatsConsumed(stream, SPI_tuptable, SPI_processed);
		SPI_freetuptable(SPI_tuptable);

		values[0] = CStringGetTextDatum(group);
		values[1] = Int32GetDatum(p);
		values[2] = Int64GetDatum(last + 1);
		values[3] = TimestampTzGetDatum(GetCurrentTimestamp());
		mq_stream_exec(stream, SS_ADVANCE, values, NULL, 0, true);
		return MQ_CONSUMED;
	}
	return MQ_NOTHING;
}

/*
 * As mq_read's wait: with nothing to deliver, sleep until an append or a
 * consume of the stream ends, or the wait is over, and try again.  The
 * sleep holds no partition (see the file header).
 */
Datum
mq_consume(PG_FUNCTION_ARGS)
{
	char	   *name = mq_arg_name(fcinfo, 0, "stream");
	char	   *group = mq_arg_name(fcinfo, 1, "group");
	int32		qty = MqArgQty(fcinfo, 2);
	int64		wait = MqWaitArg(fcinfo, 3, "mq_consume");
	MqCall		call;
	MqQueue    *stream;
	TimestampTz deadline;
	MqConsumeResult res;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	stream = mq_stream_begin(&call, name, MQ_PRIV_READ, HINT_READ);
	deadline = MqAddUsecs(GetCurrentTimestamp(), wait);

	res = mq_consume_once(fcinfo, stream, group, qty);
	if (res == MQ_NOTHING && wait > 0)
	{
		MemoryContext loopcxt = AllocSetContextCreate(CurrentMemoryContext,
													  "mq_consume wait",
													  ALLOCSET_SMALL_SIZES);

		MqWaitBegin(stream, MQ_WAIT_READ);
		for (;;)
		{
			MemoryContext oldcxt;

			MemoryContextReset(loopcxt);
			oldcxt = MemoryContextSwitchTo(loopcxt);
			res = mq_consume_once(fcinfo, stream, group, qty);
			MemoryContextSwitchTo(oldcxt);
			if (res != MQ_NOTHING)
				break;
			if (GetCurrentTimestamp() >= deadline)
				break;
			if (!MqWaitSleep(deadline))
				break;
			MqWaitCheckClient();

			MemoryContextReset(loopcxt);
			oldcxt = MemoryContextSwitchTo(loopcxt);
			AcceptInvalidationMessages();
			stream = mq_stream_begin_again(&call, name);
			MemoryContextSwitchTo(oldcxt);
		}
		MqWaitEnd();
		MemoryContextDelete(loopcxt);
	}
	MqEnd(&call);
	return (Datum) 0;
}

/*
 * Move the group (created if need be) on every partition: to msg_id, or to
 * the first record appended at or after at.
 */
Datum
mq_seek(PG_FUNCTION_ARGS)
{
	char	   *name = mq_arg_name(fcinfo, 0, "stream");
	char	   *group = mq_arg_name(fcinfo, 1, "group");
	MqCall		call;
	MqQueue    *stream;
	Datum		values[3];

	if (PG_ARGISNULL(2) == PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("exactly one of msg_id and at must be given")));
	if (!PG_ARGISNULL(2) && PG_GETARG_INT64(2) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("msg_id must be greater than or equal to zero")));

	stream = mq_stream_begin(&call, name, MQ_PRIV_READ, HINT_GROUPS);
	mq_create_group(stream, group);
	values[0] = CStringGetTextDatum(group);
	if (!PG_ARGISNULL(2))
	{
		values[1] = PG_GETARG_DATUM(2);
		mq_stream_exec(stream, SS_SEEK_ID, values, NULL, 0, true);
	}
	else
	{
		int64		h[MQ_MAX_PARTITIONS];

		MqStreamHorizons(stream, stream->stream->seqid, h);
		values[1] = PG_GETARG_DATUM(3);
		values[2] = mq_horizons_array(stream, h);
		mq_stream_exec(stream, SS_SEEK_AT, values, NULL, 0, true);
	}
	/* waiting consumers of the group may have records again */
	MqWakeupRegister(stream, MQ_WAKE_ON_COMMIT);
	MqEnd(&call);
	PG_RETURN_VOID();
}

Datum
mq_groups(PG_FUNCTION_ARGS)
{
	char	   *name = mq_arg_name(fcinfo, 0, "stream");
	MqCall		call;
	MqQueue    *stream;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	stream = mq_stream_begin(&call, name, MQ_PRIV_READ, HINT_GROUPS);
	mq_stream_exec(stream, SS_GROUPS, NULL, NULL, 0, false);
	MqReturnRows(fcinfo);
	MqEnd(&call);
	return (Datum) 0;
}

Datum
mq_drop_group(PG_FUNCTION_ARGS)
{
	char	   *name = mq_arg_name(fcinfo, 0, "stream");
	char	   *group = mq_arg_name(fcinfo, 1, "group");
	MqCall		call;
	MqQueue    *stream;
	Datum		value;
	bool		dropped;

	stream = mq_stream_begin(&call, name, MQ_PRIV_MANAGE, HINT_GROUPS);
	value = CStringGetTextDatum(group);
	mq_stream_exec(stream, SS_DROP_GROUP, &value, NULL, 0, false);
	dropped = SPI_processed > 0;
	MqEnd(&call);
	PG_RETURN_BOOL(dropped);
}

/*
 * mq_alter on a stream: retention only; any other option given is 22023.
 * Called by mq_alter after MqBegin (name, existence, privilege).
 */
void
MqStreamAlter(FunctionCallInfo fcinfo, MqCall *call, MqQueue *queue)
{
	HeapTuple	proctup;
	Oid		   *types;
	char	  **names;
	char	   *modes;
	int			i;
	int			retention_arg = -1;

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	(void) get_func_arg_info(proctup, &types, &names, &modes);
	ReleaseSysCache(proctup);

	for (i = 1; i < PG_NARGS(); i++)
	{
		const char *arg = names != NULL ? names[i] : "?";

		if (strcmp(arg, "retention") == 0)
			retention_arg = i;
		else if (!PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" does not apply to streams", arg),
					 errhint("A stream has one option to alter: retention.")));
	}
	if (retention_arg >= 0 && !PG_ARGISNULL(retention_arg))
	{
		Oid			argtypes[2] = {TEXTOID, INTERVALOID};
		Datum		values[2];
		char		nulls[2] = {' ', ' '};

		values[0] = CStringGetTextDatum(queue->name);
		values[1] = PG_GETARG_DATUM(retention_arg);
		/* zero: keep records until the stream is dropped */
		if (MqIntervalUsecs(values[1], "retention", true) == 0)
			nulls[1] = 'n';
		if (SPI_execute_with_args("UPDATE mq.queue SET retention = $2"
								  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
								  2, argtypes, values, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update the catalog of queues");
		CacheInvalidateRelcacheByRelid(queue->relid);
	}
}

/* mq_drop on a stream (after MqBegin with manage): false if gone already. */
bool
MqStreamDrop(MqCall *call, MqQueue *queue)
{
	Oid			argtype = TEXTOID;
	Datum		arg = CStringGetTextDatum(queue->name);
	Oid			records = get_relname_relid(psprintf("s_%s", queue->name), call->nspid);
	Oid			groups = get_relname_relid(psprintf("g_%s", queue->name), call->nspid);

	/*
	 * Lock the stream's tables (the records' table, each of its segments,
	 * the group positions) before any catalog row.  The worker's
	 * maintenance locks a stream's tables and then updates its rows of
	 * mq.segment; taking the rows first here would let each wait for the
	 * other.  In this order a drop waits for the worker's transaction, or
	 * the worker for the drop's.
	 */
	if (OidIsValid(records))
	{
		LockRelationOid(records, AccessExclusiveLock);
		(void) find_all_inheritors(records, AccessExclusiveLock, NULL);
	}
	if (OidIsValid(groups))
		LockRelationOid(groups, AccessExclusiveLock);

	if (SPI_execute_with_args("DELETE FROM mq.queue"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from the catalog of queues");
	if (SPI_processed == 0)
		return false;
	/* DROP TABLE waits for waiting consumes unless they end now */
	MqWaitInterrupt(queue);
	if (SPI_execute_with_args("DELETE FROM mq.grant"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM mq.segment"
							  " WHERE stream_name OPERATOR(pg_catalog.=) $1",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the grants and segments of stream \"%s\"",
			 queue->name);
	/* the segments and the sequence go with the table of records */
	if (SPI_execute(psprintf("DROP TABLE %s, %s",
							 mq_stream_table('s', queue->name),
							 mq_stream_table('g', queue->name)),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not drop the tables of stream \"%s\"", queue->name);
	/*
	 * Its bindings went with the catalog row (the foreign key's cascade):
	 * every backend forgets its routes, or a publish could route to a new
	 * object that takes the name.
	 */
	MqTopicsChanged(call->nspid);
	return true;
}

/* mq_metrics of a stream: ready = records retained, with the oldest's age. */
void
MqStreamMetrics(MqQueue *queue, TimestampTz now, Datum *values, bool *nulls)
{
	Datum		arg = TimestampTzGetDatum(now);
	int			i;

	Oid			extowner;

	mq_stream_load(queue, MqNamespace(&extowner));
	mq_stream_exec(queue, SS_METRICS, &arg, NULL, 0, false);
	values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[1]);
	for (i = 2; i <= 5; i++)
	{
		values[i] = Int64GetDatum(0);
		nulls[i] = false;
	}
	values[6] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &nulls[6]);
}

/*
 * The worker's work on a stream, in a transaction of its own: record the
 * segment appends go to, rotate to the next one when the current one is
 * older than a quarter of the retention (and not empty), keep the next
 * segment ready, and drop the segments closed longer than the retention
 * ago.  Returns false (having done nothing) if name is not a stream.
 * *next is brought forward to when the next rotation or drop falls due.
 */
bool
MqStreamMaintain(const char *name, TimestampTz *next)
{
	MqCall		call;
	MqQueue    *stream;
	bool		is_stream = false;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MqBegin(&call, NULL, 0, true);
	if (OidIsValid(get_relname_relid(psprintf("s_%s", name), call.nspid)) &&
		(stream = MqLookup(&call, name, true)) != NULL &&
		stream->kind == MQ_KIND_STREAM)
	{
		TimestampTz now = GetCurrentTimestamp();
		int64		span = stream->retention / 4;
		Oid			argtypes[3] = {TEXTOID, INT4OID, TIMESTAMPTZOID};
		Datum		values[3];
		int64		last;
		int64		current;
		TimestampTz opened = 0;
		bool		isnull;
		uint64		i;
		List	   *drops = NIL;
		ListCell   *lc;

		is_stream = true;
		stream = mq_stream_check(&call, stream, name, HINT_READ);
		last = MqStreamLastId(stream->stream->seqid);
		current = last >> MQ_SEGMENT_BITS;
		values[0] = CStringGetTextDatum(name);
		values[1] = Int32GetDatum((int32) current);
		values[2] = TimestampTzGetDatum(now);

		/* the segment appends go to (new after an overflow, or a restore) */
		if (SPI_execute_with_args("INSERT INTO mq.segment (stream_name, segment, opened_at)"
								  " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
								  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT ||
			SPI_execute_with_args("UPDATE mq.segment SET closed_at = $3"
								  " WHERE stream_name OPERATOR(pg_catalog.=) $1"
								  " AND segment OPERATOR(pg_catalog.<) $2 AND closed_at IS NULL",
								  3, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("SELECT opened_at FROM mq.segment"
								  " WHERE stream_name OPERATOR(pg_catalog.=) $1"
								  " AND segment OPERATOR(pg_catalog.=) $2",
								  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the segments of stream \"%s\"", name);
		if (SPI_processed == 1)
			opened = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));

		/* rotate: appends go to the next segment from now on */
		if (stream->has_retention && last >= Max(MQ_SEGMENT_START(current), 1) &&
			now >= MqAddUsecs(opened, span))
		{
			Oid			seqtypes[2] = {OIDOID, INT8OID};
			Datum		seqvalues[2];

			seqvalues[0] = ObjectIdGetDatum(stream->stream->seqid);
			seqvalues[1] = Int64GetDatum(MQ_SEGMENT_START(current + 1) - 1);
			if (SPI_execute_with_args("SELECT pg_catalog.setval($1::pg_catalog.regclass, $2)",
									  2, seqtypes, seqvalues, NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not rotate the segments of stream \"%s\"", name);
			current++;
			values[1] = Int32GetDatum((int32) current);
			if (SPI_execute_with_args("UPDATE mq.segment SET closed_at = $3"
									  " WHERE stream_name OPERATOR(pg_catalog.=) $1"
									  " AND segment OPERATOR(pg_catalog.<) $2"
									  " AND closed_at IS NULL",
									  3, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE ||
				SPI_execute_with_args("INSERT INTO mq.segment (stream_name, segment, opened_at)"
									  " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
									  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not record the segments of stream \"%s\"", name);
			opened = now;
		}
		/* the next rotation; one due already waits for an append */
		if (stream->has_retention && MqAddUsecs(opened, Max(span, 1000)) > now)
			*next = Min(*next, MqAddUsecs(opened, Max(span, 1000)));

		/* the next segment is ready before appends need it */
		if (!OidIsValid(get_relname_relid(mq_segment_name(name, current + 1), call.nspid)))
			mq_create_segment(name, current + 1, stream->unlogged, true);

		/* segments closed longer than the retention ago */
		if (stream->has_retention)
		{
			values[2] = TimestampTzGetDatum(MqAddUsecs(now, -stream->retention));
			if (SPI_execute_with_args("SELECT segment FROM mq.segment"
									  " WHERE stream_name OPERATOR(pg_catalog.=) $1"
									  " AND segment OPERATOR(pg_catalog.<) $2"
									  " AND closed_at OPERATOR(pg_catalog.<) $3",
									  3, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not read the segments of stream \"%s\"", name);
			for (i = 0; i < SPI_processed; i++)
				drops = lappend_int(drops,
									DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc,
																1, &isnull)));
			if (SPI_execute_with_args("SELECT pg_catalog.min(closed_at) FROM mq.segment"
									  " WHERE stream_name OPERATOR(pg_catalog.=) $1"
									  " AND closed_at OPERATOR(pg_catalog.>=) $3",
									  3, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not read the segments of stream \"%s\"", name);
			{
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											  1, &isnull);

				if (!isnull &&
					MqAddUsecs(DatumGetTimestampTz(d), stream->retention) > now)
					*next = Min(*next, MqAddUsecs(DatumGetTimestampTz(d), stream->retention));
			}
		}
		if (drops != NIL)
		{
			/* waiting consumes hold locks on the segments: end their waits */
			MqWaitInterrupt(stream);
			/* never queue for long in front of appends and consumes */
			if (SPI_execute("SELECT pg_catalog.set_config('lock_timeout', '1s', true)",
							false, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not set lock_timeout");
		}
		foreach(lc, drops)
		{
			int			seg = lfirst_int(lc);

			values[1] = Int32GetDatum(seg);
			if (SPI_execute(psprintf("DROP TABLE IF EXISTS %s",
									 quote_qualified_identifier(MQ_SCHEMA,
																mq_segment_name(name, seg))),
							false, 0) != SPI_OK_UTILITY ||
				SPI_execute_with_args("DELETE FROM mq.segment"
									  " WHERE stream_name OPERATOR(pg_catalog.=) $1"
									  " AND segment OPERATOR(pg_catalog.=) $2",
									  2, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
				elog(ERROR, "could not drop a segment of stream \"%s\"", name);
		}
	}
	MqEnd(&call);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return is_stream;
}
