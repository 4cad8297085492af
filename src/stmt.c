/*-------------------------------------------------------------------------
 *
 * stmt.c
 *	  The SQL of every statement mq runs against a queue's tables.
 *
 * The statements run as the extension owner, whatever the caller's
 * search_path, so every table, function, type and operator in them is
 * schema-qualified.  In the texts, %1$s is the live table, %2$s the dead
 * letter table and %3$s the table of retained (acked) messages; queue.c
 * fills them in with quoted names and prepares each statement once per
 * backend and queue.  %4$s is the queue's max_attempts as a literal: the
 * worker's statements name it so that the planner can use the partial index
 * of exhausted messages, whose predicate holds the same literal (a cached
 * entry is dropped, and its plans with it, when mq_alter changes the
 * option).  %5$s is ", topic, routing_key" where the queue's tables have
 * those columns (every queue once the database is on 0.2) and nothing on a
 * queue still shaped as in 0.1: reads and pops return them as the last
 * columns of mq_message, and dead-lettering and redrive carry them along.
 * All other values are parameters.
 *
 * Reads walk the index on (visible_at, msg_id) from the queue's scan floor
 * (floor.c) up to "now", so only messages that are visible are touched,
 * and not the dead entries of those delivered before; see docs/design.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "mq.h"

#define EQ " OPERATOR(pg_catalog.=) "
#define LE " OPERATOR(pg_catalog.<=) "
#define LT " OPERATOR(pg_catalog.<) "
#define GT " OPERATOR(pg_catalog.>) "
#define GE " OPERATOR(pg_catalog.>=) "

/*
 * the messages a read may lease: visible now ($1) and not exhausted ($2),
 * searched from the queue's scan floor up (see floor.c), a (visible_at,
 * msg_id) given as two parameters
 */
#define PICK(floor, floor_id, limit) \
	" FROM %1$s WHERE (visible_at, msg_id)" GE "(" floor ", " floor_id ")" \
	" AND visible_at" LE "$1 AND attempt" LT "$2" \
	" ORDER BY visible_at, msg_id LIMIT " limit " FOR UPDATE SKIP LOCKED"
#define READABLE(floor, floor_id) \
	"SELECT msg_id, visible_at" PICK(floor, floor_id, "$3")

/*
 * ... and the first of them, for a read of one message ($3 = 1).  Its
 * statements need no CTE and no join to return the rows in the order they
 * were picked, which makes them much cheaper to start and run.
 */
#define FIRST_READABLE(floor, floor_id) \
	"(SELECT msg_id" PICK(floor, floor_id, "1") ")"

/* a message, fenced by attempt ($2) when one is given */
#define ONE_MESSAGE \
	"msg_id" EQ "$1 AND ($2 IS NULL OR attempt" EQ "$2)"

/*
 * The rows a statement picked in CTE c.  Written as = ANY (ARRAY(...)) so that
 * even a generic plan fetches them through the primary key; a join with c
 * would let the planner choose a merge join that walks the whole index.
 */
#define LEASED_BY_C \
	"msg_id" EQ "ANY (ARRAY(SELECT msg_id FROM c))"

/* ... returned in the order the read picked them */
#define IN_READ_ORDER(cte) \
	" FROM " cte " JOIN c ON " cte ".msg_id" EQ "c.msg_id" \
	" ORDER BY c.visible_at, c.msg_id"

#define POP_SQL(retain) \
	"WITH c AS (" READABLE("$4", "$5") "), " \
	"m AS (DELETE FROM %1$s WHERE " LEASED_BY_C \
	" RETURNING msg_id, attempt OPERATOR(pg_catalog.+) 1 AS attempt," \
	" enqueued_at, body, headers%5$s)" \
	retain \
	" SELECT m.msg_id, m.attempt, m.enqueued_at, NULL::pg_catalog.timestamptz," \
	" m.body, m.headers%5$s" IN_READ_ORDER("m")

/* the same for one message */
#define POP_ONE_SQL(retain) \
	"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ FIRST_READABLE("$4", "$5") \
	" RETURNING msg_id, attempt OPERATOR(pg_catalog.+) 1 AS attempt," \
	" enqueued_at, body, headers%5$s)" \
	retain \
	" SELECT m.msg_id, m.attempt, m.enqueued_at, NULL::pg_catalog.timestamptz," \
	" m.body, m.headers%5$s FROM m"

#define RETAIN_POPPED \
	", r AS (INSERT INTO %3$s (msg_id, attempt, enqueued_at, acked_at)" \
	" SELECT msg_id, attempt, enqueued_at, $1 FROM m)"

typedef struct MqStmtDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[MQ_MAX_ARGS];
	bool		floor;			/* the last two parameters are the scan floor */
	MqStmt		one;			/* the statement to run instead when $3 = 1 */
} MqStmtDef;

static const MqStmtDef stmt_defs[MQ_NUM_STMTS] = {
	[MQ_STMT_SEND] = {
		"INSERT INTO %1$s (visible_at, enqueued_at, body, headers)"
		" VALUES ($1, $4, $2, $3) RETURNING msg_id",
		4, {TIMESTAMPTZOID, JSONBOID, JSONBOID, TIMESTAMPTZOID}
	},
	[MQ_STMT_SEND_BATCH] = {
		"INSERT INTO %1$s (visible_at, enqueued_at, body, headers)"
		" SELECT $1, $4, b.body, $3"
		" FROM pg_catalog.unnest($2) WITH ORDINALITY AS b(body, n)"
		" ORDER BY b.n RETURNING msg_id",
		4, {TIMESTAMPTZOID, JSONBARRAYOID, JSONBOID, TIMESTAMPTZOID}
	},
	/* a copy published to a topic (topic.c): SEND with $5 topic, $6 routing_key */
	[MQ_STMT_PUBLISH] = {
		"INSERT INTO %1$s (visible_at, enqueued_at, body, headers, topic, routing_key)"
		" VALUES ($1, $4, $2, $3, $5, $6)",
		6, {TIMESTAMPTZOID, JSONBOID, JSONBOID, TIMESTAMPTZOID, TEXTOID, TEXTOID}
	},
	[MQ_STMT_READ] = {
		"WITH c AS (" READABLE("$5", "$6") "), "
		"u AS (UPDATE %1$s SET attempt = attempt OPERATOR(pg_catalog.+) 1,"
		" visible_at = $4, lease_expires_at = $4 WHERE " LEASED_BY_C
		" RETURNING msg_id, attempt, enqueued_at, lease_expires_at, body, headers%5$s)"
		" SELECT u.msg_id, u.attempt, u.enqueued_at, u.lease_expires_at, u.body,"
		" u.headers%5$s" IN_READ_ORDER("u"),
		6, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID},
		true, MQ_STMT_READ_ONE
	},
	[MQ_STMT_READ_ONE] = {
		"UPDATE %1$s SET attempt = attempt OPERATOR(pg_catalog.+) 1,"
		" visible_at = $4, lease_expires_at = $4"
		" WHERE msg_id" EQ FIRST_READABLE("$5", "$6")
		" RETURNING msg_id, attempt, enqueued_at, lease_expires_at, body, headers%5$s",
		6, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID},
		true
	},
	/*
	 * When the next message becomes readable without anyone committing: a
	 * delayed message or a nack's retry falling due, or a lease expiring.
	 * The planner answers min() from the (visible_at, msg_id) index.
	 */
	[MQ_STMT_READ_DUE] = {
		"SELECT pg_catalog.min(visible_at) FROM %1$s"
		" WHERE visible_at" GT "$1 AND attempt" LT "$2",
		2, {TIMESTAMPTZOID, INT4OID}
	},
	[MQ_STMT_POP] = {
		POP_SQL(""),
		5, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID},
		true, MQ_STMT_POP_ONE
	},
	[MQ_STMT_POP_ONE] = {
		POP_ONE_SQL(""),
		5, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID}, true
	},
	[MQ_STMT_POP_RETAIN] = {
		POP_SQL(RETAIN_POPPED),
		5, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID},
		true, MQ_STMT_POP_ONE_RETAIN
	},
	[MQ_STMT_POP_ONE_RETAIN] = {
		POP_ONE_SQL(RETAIN_POPPED),
		5, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID}, true
	},
	/* the acks return enqueued_at, from which stats.c measures the delay */
	[MQ_STMT_ACK] = {
		"DELETE FROM %1$s WHERE " ONE_MESSAGE " RETURNING enqueued_at",
		2, {INT8OID, INT4OID}
	},
	[MQ_STMT_ACK_RETAIN] = {
		"WITH m AS (DELETE FROM %1$s WHERE " ONE_MESSAGE
		" RETURNING msg_id, attempt, enqueued_at)"
		" INSERT INTO %3$s (msg_id, attempt, enqueued_at, acked_at, result)"
		" SELECT msg_id, attempt, enqueued_at, $3, $4 FROM m RETURNING enqueued_at",
		4, {INT8OID, INT4OID, TIMESTAMPTZOID, JSONBOID}
	},
	[MQ_STMT_ACK_IDS] = {
		"DELETE FROM %1$s WHERE msg_id" EQ "ANY ($1) RETURNING msg_id, enqueued_at",
		1, {INT8ARRAYOID}
	},
	[MQ_STMT_ACK_IDS_RETAIN] = {
		"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ "ANY ($1)"
		" RETURNING msg_id, attempt, enqueued_at)"
		" INSERT INTO %3$s (msg_id, attempt, enqueued_at, acked_at)"
		" SELECT msg_id, attempt, enqueued_at, $2 FROM m RETURNING msg_id, enqueued_at",
		2, {INT8ARRAYOID, TIMESTAMPTZOID}
	},
	[MQ_STMT_NACK_LOCK] = {
		"SELECT attempt FROM %1$s WHERE " ONE_MESSAGE
		" AND lease_expires_at IS NOT NULL FOR UPDATE",
		2, {INT8OID, INT4OID}
	},
	[MQ_STMT_NACK_RETRY] = {
		"UPDATE %1$s SET visible_at = $2, lease_expires_at = NULL,"
		" last_error = COALESCE($3, last_error) WHERE msg_id" EQ "$1",
		3, {INT8OID, TIMESTAMPTZOID, TEXTOID}
	},
	[MQ_STMT_NACK_DEAD] = {
		"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ "$1"
		" RETURNING msg_id, attempt, enqueued_at, last_error, body, headers%5$s)"
		" INSERT INTO %2$s (msg_id, attempt, enqueued_at, dead_at, reason,"
		" last_error, body, headers%5$s)"
		" SELECT msg_id, attempt, enqueued_at, $2, 'nack',"
		" COALESCE($3, last_error), body, headers%5$s FROM m",
		3, {INT8OID, TIMESTAMPTZOID, TEXTOID}
	},
	[MQ_STMT_EXTEND] = {
		"UPDATE %1$s SET visible_at = $3, lease_expires_at = $3"
		" WHERE " ONE_MESSAGE " AND lease_expires_at IS NOT NULL"
		" RETURNING lease_expires_at",
		3, {INT8OID, INT4OID, TIMESTAMPTZOID}
	},
	[MQ_STMT_DEAD] = {
		"SELECT msg_id, attempt, enqueued_at, dead_at, reason, last_error,"
		" body, headers FROM %2$s ORDER BY dead_at, msg_id LIMIT $1",
		1, {INT4OID}
	},
	[MQ_STMT_REDRIVE] = {
		"WITH m AS (DELETE FROM %2$s WHERE msg_id" EQ "ANY (ARRAY("
		"SELECT msg_id FROM %2$s WHERE ($1 IS NULL OR msg_id" EQ "ANY ($1))"
		" ORDER BY dead_at, msg_id LIMIT $2))"
		" RETURNING msg_id, enqueued_at, body, headers, last_error%5$s)"
		" INSERT INTO %1$s (msg_id, visible_at, attempt, enqueued_at, body,"
		" headers, last_error%5$s)"
		" SELECT msg_id, $3, 0, enqueued_at, body, headers, last_error%5$s FROM m",
		3, {INT8ARRAYOID, INT8OID, TIMESTAMPTZOID}
	},
	[MQ_STMT_STATUS] = {
		"SELECT CASE WHEN visible_at" GT "$2 THEN"
		" CASE WHEN lease_expires_at IS NULL THEN 'delayed' ELSE 'in_flight' END"
		" WHEN attempt" LT "$3 THEN 'ready' ELSE 'in_flight' END,"
		" attempt, enqueued_at, NULL::pg_catalog.timestamptz,"
		" NULL::pg_catalog.jsonb, last_error FROM %1$s WHERE msg_id" EQ "$1"
		" UNION ALL SELECT 'done', attempt, enqueued_at, acked_at, result, NULL"
		" FROM %3$s WHERE msg_id" EQ "$1"
		" UNION ALL SELECT 'dead', attempt, enqueued_at, NULL, NULL, last_error"
		" FROM %2$s WHERE msg_id" EQ "$1",
		3, {INT8OID, TIMESTAMPTZOID, INT4OID}
	},
	/*
	 * mq_metrics (status.c).  Its cost must not grow with the backlog: the
	 * rows visible now are counted in the (visible_at, msg_id) index only up
	 * to $3 (status.c estimates beyond), minus the exhausted ones through
	 * their partial index; the rows visible later (delayed, retrying,
	 * leased) are counted from the same index; the dead and retained rows
	 * up to $3; the oldest ready message is found from the lowest msg_id up.
	 */
	[MQ_STMT_METRICS] = {
		"WITH f AS (SELECT"
		" pg_catalog.count(*) FILTER (WHERE lease_expires_at IS NULL"
		"  AND attempt" EQ "0) AS delayed,"
		" pg_catalog.count(*) FILTER (WHERE lease_expires_at IS NULL"
		"  AND attempt" GT "0) AS retrying,"
		" pg_catalog.count(*) FILTER (WHERE lease_expires_at IS NOT NULL) AS leased"
		" FROM %1$s WHERE visible_at" GT "$1)"
		" SELECT (SELECT pg_catalog.count(*) FROM (SELECT FROM %1$s"
		"  WHERE visible_at" LE "$1 ORDER BY visible_at, msg_id LIMIT $3) v),"
		" (SELECT pg_catalog.count(*) FROM %1$s"
		"  WHERE visible_at" LE "$1 AND attempt" GE "%4$s),"
		" f.delayed, f.retrying, f.leased,"
		" (SELECT pg_catalog.count(*) FROM (SELECT FROM %2$s LIMIT $3) d),"
		" (SELECT pg_catalog.count(*) FROM (SELECT FROM %3$s LIMIT $3) a),"
		" $1 OPERATOR(pg_catalog.-) (SELECT enqueued_at FROM %1$s"
		"  WHERE visible_at" LE "$1 AND attempt" LT "$2 ORDER BY msg_id LIMIT 1)"
		" FROM f",
		3, {TIMESTAMPTZOID, INT4OID, INT8OID}
	},
	[MQ_STMT_PURGE] = {
		"DELETE FROM %1$s",
		0, {0}
	},

	/*
	 * The worker's statements (worker.c).  EXPIRE dead-letters messages
	 * whose last allowed lease ended before $1.  The inner SELECT locks the
	 * rows it picks and skips those another transaction holds (an ack or a
	 * nack in progress); the DELETE then checks the condition again on the
	 * locked rows, so a message acked, nacked or leased again before the
	 * worker locked it is left alone: the first to commit wins.
	 */
	[MQ_STMT_EXPIRE] = {
		"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ "ANY (ARRAY("
		"SELECT msg_id FROM %1$s WHERE visible_at" LE "$1 AND attempt" GE "%4$s"
		" ORDER BY visible_at, msg_id LIMIT $2 FOR UPDATE SKIP LOCKED))"
		" AND visible_at" LE "$1 AND attempt" GE "%4$s"
		" RETURNING msg_id, attempt, enqueued_at, last_error, body, headers%5$s)"
		" INSERT INTO %2$s (msg_id, attempt, enqueued_at, dead_at, reason,"
		" last_error, body, headers%5$s)"
		" SELECT msg_id, attempt, enqueued_at, $1, 'max_attempts', last_error,"
		" body, headers%5$s FROM m",
		2, {TIMESTAMPTZOID, INT4OID}
	},
	/* forget acked messages retained since before $1, oldest first */
	[MQ_STMT_RETENTION] = {
		"DELETE FROM %3$s WHERE msg_id" EQ "ANY (ARRAY("
		"SELECT msg_id FROM %3$s WHERE acked_at" LT "$1"
		" ORDER BY acked_at LIMIT $2))",
		2, {TIMESTAMPTZOID, INT4OID}
	},
	/*
	 * When the worker has something to do next: the first last lease to end
	 * (one before $1 is one that EXPIRE skipped, locked), and the oldest
	 * retained ack.  Both are one index probe.
	 */
	[MQ_STMT_WORKER_DUE] = {
		"SELECT (SELECT visible_at FROM %1$s WHERE $1 IS NOT NULL"
		" AND attempt" GE "%4$s ORDER BY visible_at, msg_id LIMIT 1),"
		" (SELECT acked_at FROM %3$s ORDER BY acked_at LIMIT 1)",
		1, {TIMESTAMPTZOID}
	},
	/* the least key at or above ($1, $2) of a message not exhausted ($3) */
	[MQ_STMT_FLOOR] = {
		"SELECT visible_at, msg_id FROM %1$s"
		" WHERE (visible_at, msg_id)" GE "($1, $2) AND attempt" LT "$3"
		" ORDER BY visible_at, msg_id LIMIT 1",
		3, {TIMESTAMPTZOID, INT8OID, INT4OID}
	},
};

/*
 * The statement to run for stmt with these parameters: the reads and pops
 * of one message ($3, qty, is 1) have a cheaper statement of their own.
 * (0, MQ_STMT_SEND, is no statement's variant, so it means none.)
 */
MqStmt
MqStmtChoose(MqStmt stmt, Datum *values)
{
	if (stmt_defs[stmt].one != 0 && DatumGetInt32(values[2]) == 1)
		return stmt_defs[stmt].one;
	return stmt;
}

/*
 * The position of the scan floor (two parameters, visible_at and msg_id)
 * among a statement's parameters, which MqExecute fills in; -1 if it takes
 * none.
 */
int
MqStmtFloorArg(MqStmt stmt)
{
	return stmt_defs[stmt].floor ? stmt_defs[stmt].nargs - 2 : -1;
}

/*
 * The SQL text of a statement for a queue, and its parameter types.  The
 * placeholders are expanded here rather than by snprintf, which insists that
 * every positional argument be used.
 */
char *
MqStmtSql(MqStmt stmt, const MqQueue *queue, int *nargs, const Oid **argtypes)
{
	const char *p = stmt_defs[stmt].sql;
	StringInfoData buf;

	Assert(stmt >= 0 && stmt < MQ_NUM_STMTS);
	initStringInfo(&buf);
	while (*p)
	{
		if (p[0] == '%' && p[1] >= '1' && p[1] <= '3' && p[2] == '$' && p[3] == 's')
		{
			appendStringInfoString(&buf, MqTableName("qda"[p[1] - '1'], queue->name));
			p += 4;
		}
		else if (strncmp(p, "%4$s", 4) == 0)
		{
			appendStringInfo(&buf, "%d", queue->max_attempts);
			p += 4;
		}
		else if (strncmp(p, "%5$s", 4) == 0)
		{
			if (queue->has_topic)
				appendStringInfoString(&buf, ", topic, routing_key");
			p += 4;
		}
		else
			appendStringInfoChar(&buf, *p++);
	}
	*nargs = stmt_defs[stmt].nargs;
	*argtypes = stmt_defs[stmt].argtypes;
	return buf.data;
}

/*
 * The schema-qualified, quoted name of one of a queue's tables: kind 'q'
 * (live), 'd' (dead letters) or 'a' (retained acks).
 */
char *
MqTableName(char kind, const char *queue)
{
	return quote_qualified_identifier(MQ_SCHEMA, psprintf("%c_%s", kind, queue));
}

/*
 * The quoted name of one of the other objects of a queue's table kind:
 * <kind>_<queue>$<what>, schema-qualified when qualified.  Queue names never
 * contain "$", so the name splits back into its parts at the only "$" it
 * holds, and no two queues' objects, nor an object and a table, share a
 * name (as q_c1_visible, the index of c1 in version 0.1, and the table of a
 * queue named c1_visible would).  Queues created by 0.1 got names with "_"
 * instead; ALTER EXTENSION mq UPDATE renames them.
 */
const char *
MqObjectName(char kind, const char *queue, const char *what, bool qualified)
{
	char	   *name = psprintf("%c_%s$%s", kind, queue, what);

	return qualified ? quote_qualified_identifier(MQ_SCHEMA, name) :
		quote_identifier(name);
}

/*
 * The partial index of a queue's exhausted messages (attempt >= max_attempts):
 * those on their last lease and those whose last lease ended.  It stays tiny
 * (only failing messages enter it, and only when leased for the last time),
 * costs nothing when a message is sent, read on an earlier attempt or acked,
 * and lets the worker find expired last leases without walking the backlog
 * of ready messages.  mq_alter rebuilds it when max_attempts changes.
 */
char *
MqExhaustedIndexSql(const char *queue, int32 max_attempts)
{
	return psprintf("CREATE INDEX %s ON %s (visible_at, msg_id) WHERE attempt" GE "%d",
					MqObjectName('q', queue, "exhausted", false),
					MqTableName('q', queue), max_attempts);
}
