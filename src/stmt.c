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
 * option).  %9$s is ", topic, routing_key" where the queue's tables have
 * those columns (every queue once the database is on 0.2) and nothing on a
 * queue still shaped as in 0.1: reads and pops return them as the last
 * columns of mq_message, and dead-lettering and redrive carry them along.
 * All other values are parameters.
 *
 * Reads walk the index on (visible_at, msg_id) from the queue's scan floor
 * (floor.c) up to "now", so only messages that are visible are touched,
 * and not the dead entries of those delivered before; see docs/design.md.
 *
 * Two sets of statements: stmt_defs, written for the tables of 0.1 (which
 * a database keeps until ALTER EXTENSION mq UPDATE), and stmt_defs_v2,
 * which replaces some of them and adds others for the tables of 0.2, which
 * have group_id and priority columns and three more tables: %5$s, the
 * parked messages of groups (p_), %6$s, the groups with live messages (g_)
 * and %7$s, the dedup keys (k_).  %8$s is the live table's name as a string
 * literal.  A statement of stmt_defs_v2 that a 0.2 queue does not use for
 * what it lacks (no group, no priority, no dedup key) costs it nothing:
 * see "Ordering and control" in docs/design.md.
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
 * mq_status: the message in the live table (%1$s), then in the retained
 * (%3$s) and dead (%2$s) tables; 0.2 adds the parked messages between.
 */
#define STATUS_LIVE_SQL \
	"SELECT CASE WHEN visible_at" GT "$2 THEN" \
	" CASE WHEN lease_expires_at IS NULL THEN 'delayed' ELSE 'in_flight' END" \
	" WHEN attempt" LT "$3 THEN 'ready' ELSE 'in_flight' END," \
	" attempt, enqueued_at, NULL::pg_catalog.timestamptz," \
	" NULL::pg_catalog.jsonb, last_error FROM %1$s WHERE msg_id" EQ "$1"
#define STATUS_ENDED_SQL \
	" UNION ALL SELECT 'done', attempt, enqueued_at, acked_at, result, NULL" \
	" FROM %3$s WHERE msg_id" EQ "$1" \
	" UNION ALL SELECT 'dead', attempt, enqueued_at, NULL, NULL, last_error" \
	" FROM %2$s WHERE msg_id" EQ "$1"

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
	" enqueued_at, body, headers%9$s)" \
	retain \
	" SELECT m.msg_id, m.attempt, m.enqueued_at, NULL::pg_catalog.timestamptz," \
	" m.body, m.headers%9$s" IN_READ_ORDER("m")

/* the same for one message */
#define POP_ONE_SQL(retain) \
	"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ FIRST_READABLE("$4", "$5") \
	" RETURNING msg_id, attempt OPERATOR(pg_catalog.+) 1 AS attempt," \
	" enqueued_at, body, headers%9$s)" \
	retain \
	" SELECT m.msg_id, m.attempt, m.enqueued_at, NULL::pg_catalog.timestamptz," \
	" m.body, m.headers%9$s FROM m"

/*
 * 0.2: reads and pops return group_id and priority too.  The priority
 * variants pick from the index on (priority DESC, visible_at, msg_id), which
 * only a queue that has had a non-zero priority has, one range of
 * priorities after the other, highest first.  Their last four parameters
 * are arrays with an element per range (hi, lo, and a scan floor as
 * visible_at and msg_id; see "priority levels" in floor.c): a range of one
 * level (lo = hi) is searched from its floor, with the level as an
 * equality so that the index scan starts at the floor and stops at the
 * first entry beyond "now"; a range of levels this backend does not know
 * (lo < hi) is searched whole, its bounds ending the scan.  A function
 * scan with a lateral subquery has one plan, a nested loop that takes the
 * ranges in array order and stops at the LIMIT, so the rows come in
 * (priority DESC, visible_at, msg_id) order and no row of a lower range is
 * locked once the limit is reached.
 */
#define MSG_COLS "msg_id, attempt, enqueued_at, lease_expires_at, body, headers"
#define MSG_COLS2 MSG_COLS ", group_id, priority, topic, routing_key"

#define LEVEL_RANGES(h, l, f, i) \
	" ROWS FROM (pg_catalog.unnest(" h "), pg_catalog.unnest(" l ")," \
	" pg_catalog.unnest(" f "), pg_catalog.unnest(" i ")) WITH ORDINALITY" \
	" AS r(hi, lo, f, fid, n)"
#define PICK_LEVELS(h, l, f, i, limit) \
	" FROM" LEVEL_RANGES(h, l, f, i) " CROSS JOIN LATERAL" \
	" (SELECT * FROM (SELECT msg_id, visible_at, priority FROM %1$s" \
	" WHERE r.lo" EQ "r.hi AND priority" EQ "r.hi" \
	" AND (visible_at, msg_id)" GE "(r.f, r.fid) AND visible_at" LE "$1" \
	" AND attempt" LT "$2 ORDER BY visible_at, msg_id LIMIT " limit \
	" FOR UPDATE SKIP LOCKED) l UNION ALL SELECT * FROM (SELECT msg_id," \
	" visible_at, priority FROM %1$s WHERE r.lo" LT "r.hi" \
	" AND priority" GE "r.lo AND priority" LE "r.hi AND visible_at" LE "$1" \
	" AND attempt" LT "$2 ORDER BY priority DESC, visible_at, msg_id" \
	" LIMIT " limit " FOR UPDATE SKIP LOCKED) g) c LIMIT " limit
#define READABLE_PRIO(h, l, f, i) \
	"SELECT c.msg_id, c.visible_at, c.priority" PICK_LEVELS(h, l, f, i, "$3")
#define FIRST_READABLE_PRIO(h, l, f, i) \
	"(SELECT c.msg_id" PICK_LEVELS(h, l, f, i, "1") ")"
#define READ_LEVELS READABLE_PRIO("$5", "$6", "$7", "$8")
#define FIRST_READ_LEVELS FIRST_READABLE_PRIO("$5", "$6", "$7", "$8")
#define POP_LEVELS READABLE_PRIO("$4", "$5", "$6", "$7")
#define FIRST_POP_LEVELS FIRST_READABLE_PRIO("$4", "$5", "$6", "$7")
#define LEVELS_TYPES \
	INT4ARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID
#define IN_PRIO_ORDER(cte) \
	" FROM " cte " JOIN c ON " cte ".msg_id" EQ "c.msg_id" \
	" ORDER BY c.priority DESC, c.visible_at, c.msg_id"

/*
 * The last condition of the reads and pops of 0.2, on each message they
 * lease or delete, as it was before: stats.c measures the wait of a first
 * delivery and counts expired leases from it (see mq_stats_picked there),
 * so counting adds no statement, no scan and no join.  Its cost makes the
 * planner test it after every other condition.
 */
#define PICKED \
	" AND mq.stats_picked(msg_id, attempt, visible_at, lease_expires_at)"

#define LEASE_SET \
	"UPDATE %1$s SET attempt = attempt OPERATOR(pg_catalog.+) 1," \
	" visible_at = $4, lease_expires_at = $4 WHERE "

#define READ2_SQL(readable, order) \
	"WITH c AS (" readable "), u AS (" LEASE_SET LEASED_BY_C PICKED \
	" RETURNING " MSG_COLS2 ") SELECT u.msg_id, u.attempt, u.enqueued_at," \
	" u.lease_expires_at, u.body, u.headers, u.group_id, u.priority, u.topic," \
	" u.routing_key" order("u")
#define READ2_ONE_SQL(first) \
	LEASE_SET "msg_id" EQ first PICKED " RETURNING " MSG_COLS2

#define POP_RET2 \
	" RETURNING msg_id, attempt OPERATOR(pg_catalog.+) 1 AS attempt," \
	" enqueued_at, body, headers, group_id, priority, topic, routing_key)"
#define POP_SEL2 \
	" SELECT m.msg_id, m.attempt, m.enqueued_at, NULL::pg_catalog.timestamptz," \
	" m.body, m.headers, m.group_id, m.priority, m.topic, m.routing_key"
#define POP2_SQL(readable, order, retain) \
	"WITH c AS (" readable "), m AS (DELETE FROM %1$s WHERE " LEASED_BY_C \
	PICKED POP_RET2 retain POP_SEL2 order("m")
#define POP2_ONE_SQL(first, retain) \
	"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ first PICKED POP_RET2 retain \
	POP_SEL2 " FROM m"

/*
 * a message sent with its id, group and priority: into q_ or p_; into q_
 * also with the topic and routing key of a redriven copy of a publish
 * (which never has a group, so never goes to p_, which lacks them)
 */
#define ENQUEUE_SQL(table) \
	"INSERT INTO " table " (msg_id, visible_at, enqueued_at, body, headers," \
	" group_id, priority, last_error) VALUES ($5, $1, $4, $2, $3, $6, $7, $8)"
#define ENQUEUE_TOPIC_SQL \
	"INSERT INTO %1$s (msg_id, visible_at, enqueued_at, body, headers," \
	" group_id, priority, last_error, topic, routing_key)" \
	" VALUES ($5, $1, $4, $2, $3, $6, $7, $8, $9, $10)"
#define ENQUEUE_TYPES \
	{TIMESTAMPTZOID, JSONBOID, JSONBOID, TIMESTAMPTZOID, INT8OID, TEXTOID, \
	 INT4OID, TEXTOID}
#define ENQUEUE_TOPIC_TYPES \
	{TIMESTAMPTZOID, JSONBOID, JSONBOID, TIMESTAMPTZOID, INT8OID, TEXTOID, \
	 INT4OID, TEXTOID, TEXTOID, TEXTOID}

/* the next message of the group of the message in CTE m, moved into q_ */
#define PROMOTE_NEXT(now) \
	" x AS (DELETE FROM %5$s WHERE msg_id" EQ "(SELECT p.msg_id FROM %5$s p" \
	" WHERE p.group_id" EQ "(SELECT m.group_id FROM m)" \
	" ORDER BY p.group_id, p.msg_id LIMIT 1)" \
	" RETURNING msg_id, visible_at, attempt, enqueued_at, body, headers," \
	" last_error, group_id, priority)," \
	" y AS (INSERT INTO %1$s (msg_id, visible_at, attempt, enqueued_at, body," \
	" headers, last_error, group_id, priority)" \
	" SELECT msg_id, GREATEST(visible_at, " now "), attempt, enqueued_at, body," \
	" headers, last_error, group_id, priority FROM x RETURNING 1)"

#define ACK_GROUP_SQL(cols, retain) \
	"WITH m AS (DELETE FROM %1$s WHERE " ONE_MESSAGE \
	" RETURNING msg_id, group_id, enqueued_at" cols ")," retain \
	" l AS (UPDATE %6$s g SET n = g.n OPERATOR(pg_catalog.-) 1 FROM m" \
	" WHERE g.group_id" EQ "m.group_id RETURNING g.n)," \
	PROMOTE_NEXT("$3") \
	" SELECT m.group_id, (SELECT l.n FROM l), (SELECT pg_catalog.count(*) FROM y)," \
	" m.enqueued_at FROM m"

#define RETAIN_ACKED \
	" INSERT INTO %3$s (msg_id, attempt, enqueued_at, acked_at, result)" \
	" SELECT msg_id, attempt, enqueued_at, $3, $4 FROM m"

#define RETAIN_POPPED \
	", r AS (INSERT INTO %3$s (msg_id, attempt, enqueued_at, acked_at)" \
	" SELECT msg_id, attempt, enqueued_at, $1 FROM m)"

/*
 * mq_metrics' statement; parked_cte, parked_cols and from add, on 0.2's
 * tables, the messages parked behind their group's head (status.c).
 */
#define METRICS_SQL(parked_cte, parked_cols, from) \
	"WITH f AS (SELECT" \
	" pg_catalog.count(*) FILTER (WHERE lease_expires_at IS NULL" \
	"  AND attempt" EQ "0) AS delayed," \
	" pg_catalog.count(*) FILTER (WHERE lease_expires_at IS NULL" \
	"  AND attempt" GT "0) AS retrying," \
	" pg_catalog.count(*) FILTER (WHERE lease_expires_at IS NOT NULL) AS leased" \
	" FROM %1$s WHERE visible_at" GT "$1)" parked_cte \
	" SELECT (SELECT pg_catalog.count(*) FROM (SELECT FROM %1$s" \
	"  WHERE visible_at" LE "$1 ORDER BY visible_at, msg_id LIMIT $3) v)," \
	" (SELECT pg_catalog.count(*) FROM %1$s" \
	"  WHERE visible_at" LE "$1 AND attempt" GE "%4$s)," \
	" f.delayed, f.retrying, f.leased," \
	" (SELECT pg_catalog.count(*) FROM (SELECT FROM %2$s LIMIT $3) d)," \
	" (SELECT pg_catalog.count(*) FROM (SELECT FROM %3$s LIMIT $3) a)," \
	" $1 OPERATOR(pg_catalog.-) (SELECT enqueued_at FROM %1$s" \
	"  WHERE visible_at" LE "$1 AND attempt" LT "$2 ORDER BY msg_id LIMIT 1)" \
	parked_cols " FROM f" from

typedef struct MqStmtDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[MQ_MAX_ARGS];
	bool		floor;			/* the last two parameters are the scan floor */
	MqStmt		one;			/* the statement to run instead when $3 = 1 */
	bool		levels;			/* the last four are priority ranges (floor.c) */
} MqStmtDef;

static const MqStmtDef stmt_defs_v2[MQ_NUM_STMTS];

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
		" RETURNING msg_id, attempt, enqueued_at, lease_expires_at, body, headers%9$s)"
		" SELECT u.msg_id, u.attempt, u.enqueued_at, u.lease_expires_at, u.body,"
		" u.headers%9$s" IN_READ_ORDER("u"),
		6, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID},
		true, MQ_STMT_READ_ONE
	},
	[MQ_STMT_READ_ONE] = {
		"UPDATE %1$s SET attempt = attempt OPERATOR(pg_catalog.+) 1,"
		" visible_at = $4, lease_expires_at = $4"
		" WHERE msg_id" EQ FIRST_READABLE("$5", "$6")
		" RETURNING msg_id, attempt, enqueued_at, lease_expires_at, body, headers%9$s",
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
		" RETURNING msg_id, attempt, enqueued_at, last_error, body, headers%9$s)"
		" INSERT INTO %2$s (msg_id, attempt, enqueued_at, dead_at, reason,"
		" last_error, body, headers%9$s)"
		" SELECT msg_id, attempt, enqueued_at, $2, 'nack',"
		" COALESCE($3, last_error), body, headers%9$s FROM m",
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
		" RETURNING msg_id, enqueued_at, body, headers, last_error%9$s)"
		" INSERT INTO %1$s (msg_id, visible_at, attempt, enqueued_at, body,"
		" headers, last_error%9$s)"
		" SELECT msg_id, $3, 0, enqueued_at, body, headers, last_error%9$s FROM m",
		3, {INT8ARRAYOID, INT8OID, TIMESTAMPTZOID}
	},
	[MQ_STMT_STATUS] = {
		STATUS_LIVE_SQL
		STATUS_ENDED_SQL,
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
		METRICS_SQL("", "", ""),
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
		" RETURNING msg_id, attempt, enqueued_at, last_error, body, headers%9$s)"
		" INSERT INTO %2$s (msg_id, attempt, enqueued_at, dead_at, reason,"
		" last_error, body, headers%9$s)"
		" SELECT msg_id, attempt, enqueued_at, $1, 'max_attempts', last_error,"
		" body, headers%9$s FROM m",
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
 * The statements of 0.2 queue tables: those that differ from stmt_defs,
 * and those of priority, groups and deduplication.
 *
 * A group's messages: the group's row in %6$s counts its live messages (n)
 * and is the lock that orders the sends and releases of one group.  Only
 * the group's head (its lowest msg_id) is in the live table; the others
 * wait in %5$s until the head is acked, popped or dead-lettered
 * (GROUP_LEAVE, then GROUP_PROMOTE in a statement of its own, so that its
 * snapshot sees every send that took the group's lock before).  Plain acks
 * touch only messages without a group (group_id IS NULL), so a message
 * with a group is never acked without being released; the caller falls
 * back to ACK_GROUP when they find nothing.
 */
static const MqStmtDef stmt_defs_v2[MQ_NUM_STMTS] = {
	[MQ_STMT_READ] = {
		READ2_SQL(READABLE("$5", "$6"), IN_READ_ORDER),
		6, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID},
		true, MQ_STMT_READ_ONE
	},
	[MQ_STMT_READ_ONE] = {
		READ2_ONE_SQL(FIRST_READABLE("$5", "$6")),
		6, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID},
		true
	},
	[MQ_STMT_READ_PRIO] = {
		READ2_SQL(READ_LEVELS, IN_PRIO_ORDER),
		8, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, LEVELS_TYPES},
		false, MQ_STMT_READ_PRIO_ONE, true
	},
	[MQ_STMT_READ_PRIO_ONE] = {
		READ2_ONE_SQL(FIRST_READ_LEVELS),
		8, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, LEVELS_TYPES},
		false, 0, true
	},
	[MQ_STMT_POP] = {
		POP2_SQL(READABLE("$4", "$5"), IN_READ_ORDER, ""),
		5, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID},
		true, MQ_STMT_POP_ONE
	},
	[MQ_STMT_POP_ONE] = {
		POP2_ONE_SQL(FIRST_READABLE("$4", "$5"), ""),
		5, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID}, true
	},
	[MQ_STMT_POP_RETAIN] = {
		POP2_SQL(READABLE("$4", "$5"), IN_READ_ORDER, RETAIN_POPPED),
		5, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID},
		true, MQ_STMT_POP_ONE_RETAIN
	},
	[MQ_STMT_POP_ONE_RETAIN] = {
		POP2_ONE_SQL(FIRST_READABLE("$4", "$5"), RETAIN_POPPED),
		5, {TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID}, true
	},
	[MQ_STMT_POP_PRIO] = {
		POP2_SQL(POP_LEVELS, IN_PRIO_ORDER, ""),
		7, {TIMESTAMPTZOID, INT4OID, INT4OID, LEVELS_TYPES},
		false, MQ_STMT_POP_PRIO_ONE, true
	},
	[MQ_STMT_POP_PRIO_ONE] = {
		POP2_ONE_SQL(FIRST_POP_LEVELS, ""),
		7, {TIMESTAMPTZOID, INT4OID, INT4OID, LEVELS_TYPES}, false, 0, true
	},
	[MQ_STMT_POP_PRIO_RETAIN] = {
		POP2_SQL(POP_LEVELS, IN_PRIO_ORDER, RETAIN_POPPED),
		7, {TIMESTAMPTZOID, INT4OID, INT4OID, LEVELS_TYPES},
		false, MQ_STMT_POP_PRIO_ONE_RETAIN, true
	},
	[MQ_STMT_POP_PRIO_ONE_RETAIN] = {
		POP2_ONE_SQL(FIRST_POP_LEVELS, RETAIN_POPPED),
		7, {TIMESTAMPTZOID, INT4OID, INT4OID, LEVELS_TYPES}, false, 0, true
	},
	/*
	 * floor.c: per range ($1 to $4 as above, in order, as the reads take
	 * them), the least key of a message of that level that is not exhausted
	 * ($5 max_attempts) from the range's floor up, or, for a range of
	 * levels, the highest level in it that has a row; NULLs when there is
	 * none.  Fetched range by range from a cursor.
	 */
	[MQ_STMT_LEVELS] = {
		"SELECT r.hi, r.lo, m.priority, m.visible_at, m.msg_id FROM"
		LEVEL_RANGES("$1", "$2", "$3", "$4") " LEFT JOIN LATERAL"
		" (SELECT * FROM (SELECT priority, visible_at, msg_id FROM %1$s"
		" WHERE r.lo" EQ "r.hi AND priority" EQ "r.hi"
		" AND (visible_at, msg_id)" GE "(r.f, r.fid) AND attempt" LT "$5"
		" ORDER BY visible_at, msg_id LIMIT 1) l UNION ALL"
		" SELECT * FROM (SELECT priority, visible_at, msg_id FROM %1$s"
		" WHERE r.lo" LT "r.hi AND priority" GE "r.lo AND priority" LE "r.hi"
		" ORDER BY priority DESC LIMIT 1) g) m ON true",
		5, {LEVELS_TYPES, INT4OID}
	},
	[MQ_STMT_SEND_PRIO] = {
		"INSERT INTO %1$s (visible_at, enqueued_at, body, headers, priority)"
		" VALUES ($1, $4, $2, $3, $5) RETURNING msg_id",
		5, {TIMESTAMPTZOID, JSONBOID, JSONBOID, TIMESTAMPTZOID, INT4OID}
	},
	[MQ_STMT_SEND_BATCH_PRIO] = {
		"INSERT INTO %1$s (visible_at, enqueued_at, body, headers, priority)"
		" SELECT $1, $4, b.body, $3, $5"
		" FROM pg_catalog.unnest($2) WITH ORDINALITY AS b(body, n)"
		" ORDER BY b.n RETURNING msg_id",
		5, {TIMESTAMPTZOID, JSONBARRAYOID, JSONBOID, TIMESTAMPTZOID, INT4OID}
	},
	/* the plain acks leave messages of a group to ACK_GROUP */
	[MQ_STMT_ACK] = {
		"DELETE FROM %1$s WHERE " ONE_MESSAGE " AND group_id IS NULL"
		" RETURNING enqueued_at",
		2, {INT8OID, INT4OID}
	},
	[MQ_STMT_ACK_RETAIN] = {
		"WITH m AS (DELETE FROM %1$s WHERE " ONE_MESSAGE " AND group_id IS NULL"
		" RETURNING msg_id, attempt, enqueued_at)" RETAIN_ACKED
		" RETURNING enqueued_at",
		4, {INT8OID, INT4OID, TIMESTAMPTZOID, JSONBOID}
	},
	[MQ_STMT_ACK_IDS] = {
		"DELETE FROM %1$s WHERE msg_id" EQ "ANY ($1) AND group_id IS NULL"
		" RETURNING msg_id, enqueued_at",
		1, {INT8ARRAYOID}
	},
	[MQ_STMT_ACK_IDS_RETAIN] = {
		"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ "ANY ($1)"
		" AND group_id IS NULL RETURNING msg_id, attempt, enqueued_at)"
		" INSERT INTO %3$s (msg_id, attempt, enqueued_at, acked_at)"
		" SELECT msg_id, attempt, enqueued_at, $2 FROM m RETURNING msg_id, enqueued_at",
		2, {INT8ARRAYOID, TIMESTAMPTZOID}
	},
	/*
	 * Ack any message, leave its group and move the group's next message
	 * into the live table, in one statement.  The row of the group is locked
	 * after the statement's snapshot was taken (waiting for a send of the
	 * group that holds it), and its count is read from the latest version;
	 * the next message is the lowest parked msg_id of the group in the
	 * snapshot.  Returns (group_id, n left, messages moved), no row if
	 * nothing was acked.  When n left > 0 and none moved, the messages left
	 * were sent by transactions that committed after the snapshot: the
	 * caller runs GROUP_PROMOTE, whose snapshot sees them.
	 */
	[MQ_STMT_ACK_GROUP] = {
		ACK_GROUP_SQL("", ""),
		3, {INT8OID, INT4OID, TIMESTAMPTZOID}
	},
	[MQ_STMT_ACK_GROUP_RETAIN] = {
		ACK_GROUP_SQL(", attempt", " r AS (" RETAIN_ACKED "),"),
		4, {INT8OID, INT4OID, TIMESTAMPTZOID, JSONBOID}
	},
	/* ... the same for a list of ids: (msg_id, group_id) of those acked */
	[MQ_STMT_ACK_IDS_GROUP] = {
		"DELETE FROM %1$s WHERE msg_id" EQ "ANY ($1)"
		" RETURNING msg_id, group_id, enqueued_at",
		1, {INT8ARRAYOID}
	},
	[MQ_STMT_ACK_IDS_GROUP_RETAIN] = {
		"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ "ANY ($1)"
		" RETURNING msg_id, attempt, enqueued_at, group_id),"
		" r AS (INSERT INTO %3$s (msg_id, attempt, enqueued_at, acked_at)"
		" SELECT msg_id, attempt, enqueued_at, $2 FROM m)"
		" SELECT msg_id, group_id, enqueued_at FROM m",
		2, {INT8ARRAYOID, TIMESTAMPTZOID}
	},
	[MQ_STMT_NACK_LOCK] = {
		"SELECT attempt, group_id FROM %1$s WHERE " ONE_MESSAGE
		" AND lease_expires_at IS NOT NULL FOR UPDATE",
		2, {INT8OID, INT4OID}
	},
	[MQ_STMT_NACK_DEAD] = {
		"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ "$1"
		" RETURNING msg_id, attempt, enqueued_at, last_error, body, headers,"
		" group_id, priority, topic, routing_key)"
		" INSERT INTO %2$s (msg_id, attempt, enqueued_at, dead_at, reason,"
		" last_error, body, headers, group_id, priority, topic, routing_key)"
		" SELECT msg_id, attempt, enqueued_at, $2, 'nack',"
		" COALESCE($3, last_error), body, headers, group_id, priority, topic,"
		" routing_key FROM m",
		3, {INT8OID, TIMESTAMPTZOID, TEXTOID}
	},
	/* dead letters to redrive, oldest first: the caller sends them again */
	[MQ_STMT_REDRIVE_TAKE] = {
		"DELETE FROM %2$s WHERE msg_id" EQ "ANY (ARRAY("
		"SELECT msg_id FROM %2$s WHERE ($1 IS NULL OR msg_id" EQ "ANY ($1))"
		" ORDER BY dead_at, msg_id LIMIT $2))"
		" RETURNING msg_id, enqueued_at, body, headers, last_error, group_id,"
		" priority, topic, routing_key",
		2, {INT8ARRAYOID, INT8OID}
	},
	/* a message blocked by its group is ready, or delayed until it is due */
	[MQ_STMT_STATUS] = {
		STATUS_LIVE_SQL
		" UNION ALL SELECT CASE WHEN visible_at" GT "$2 THEN 'delayed'"
		" ELSE 'ready' END, attempt, enqueued_at, NULL, NULL, last_error"
		" FROM %5$s WHERE msg_id" EQ "$1"
		STATUS_ENDED_SQL,
		3, {INT8OID, TIMESTAMPTZOID, INT4OID}
	},
	/*
	 * As stmt_defs' METRICS, and the messages parked behind their group's
	 * head, ready when due (they would be readable but for their group),
	 * delayed before: counted among the first $3 rows of p_, which have no
	 * index on visible_at (status.c estimates beyond).
	 */
	[MQ_STMT_METRICS] = {
		METRICS_SQL(", p AS (SELECT pg_catalog.count(*) FILTER (WHERE visible_at" LE "$1) AS r,"
					" pg_catalog.count(*) FILTER (WHERE visible_at" GT "$1) AS d"
					" FROM (SELECT visible_at FROM %5$s LIMIT $3) s)", ", p.r, p.d", ", p"),
		3, {TIMESTAMPTZOID, INT4OID, INT8OID}
	},
	/* returns the live messages removed, parked ones included */
	[MQ_STMT_PURGE] = {
		"WITH q AS (DELETE FROM %1$s RETURNING 1), p AS (DELETE FROM %5$s"
		" RETURNING 1), g AS (DELETE FROM %6$s)"
		" SELECT (SELECT pg_catalog.count(*) FROM q) OPERATOR(pg_catalog.+)"
		" (SELECT pg_catalog.count(*) FROM p)",
		0, {0}
	},
	/* ... the worker's, which dead-letters heads of groups: it releases them */
	[MQ_STMT_EXPIRE] = {
		"WITH m AS (DELETE FROM %1$s WHERE msg_id" EQ "ANY (ARRAY("
		"SELECT msg_id FROM %1$s WHERE visible_at" LE "$1 AND attempt" GE "%4$s"
		" ORDER BY visible_at, msg_id LIMIT $2 FOR UPDATE SKIP LOCKED))"
		" AND visible_at" LE "$1 AND attempt" GE "%4$s"
		" RETURNING msg_id, attempt, enqueued_at, last_error, body, headers,"
		" group_id, priority, topic, routing_key)"
		" INSERT INTO %2$s (msg_id, attempt, enqueued_at, dead_at, reason,"
		" last_error, body, headers, group_id, priority, topic, routing_key)"
		" SELECT msg_id, attempt, enqueued_at, $1, 'max_attempts', last_error,"
		" body, headers, group_id, priority, topic, routing_key FROM m"
		" RETURNING group_id",
		2, {TIMESTAMPTZOID, INT4OID}
	},
	/* a fresh msg_id from the live table's identity */
	[MQ_STMT_NEXT_ID] = {
		"SELECT pg_catalog.nextval(pg_catalog.pg_get_serial_sequence(%8$s, 'msg_id'))",
		0, {0}
	},
	/*
	 * Claim dedup key $1 for msg_id $2 sent at $3, unless a message sent
	 * after $4 (the clock less the window) holds it: returns the msg_id that
	 * holds the key now, $2 if the caller is to send.  ON CONFLICT waits for
	 * a concurrent send of the key and then works on its row's latest
	 * version, so one of two concurrent sends enqueues.
	 */
	[MQ_STMT_DEDUP] = {
		"INSERT INTO %7$s AS k (dedup_key, msg_id, enqueued_at) VALUES ($1, $2, $3)"
		" ON CONFLICT (dedup_key) DO UPDATE SET"
		" msg_id = CASE WHEN k.enqueued_at" GT "$4 THEN k.msg_id"
		" ELSE EXCLUDED.msg_id END,"
		" enqueued_at = CASE WHEN k.enqueued_at" GT "$4 THEN k.enqueued_at"
		" ELSE EXCLUDED.enqueued_at END RETURNING msg_id",
		4, {TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	/* one more live message in group $1: returns the group's count */
	[MQ_STMT_GROUP_JOIN] = {
		"INSERT INTO %6$s AS g (group_id, n) VALUES ($1, 1)"
		" ON CONFLICT (group_id) DO UPDATE SET n = g.n OPERATOR(pg_catalog.+) 1"
		" RETURNING n",
		1, {TEXTOID}
	},
	[MQ_STMT_ENQUEUE] = {ENQUEUE_TOPIC_SQL, 10, ENQUEUE_TOPIC_TYPES},
	[MQ_STMT_PARK] = {ENQUEUE_SQL("%5$s"), 8, ENQUEUE_TYPES},
	/* one live message less in group $1: returns how many are left */
	[MQ_STMT_GROUP_LEAVE] = {
		"UPDATE %6$s SET n = n OPERATOR(pg_catalog.-) 1"
		" WHERE group_id" EQ "$1 RETURNING n",
		1, {TEXTOID}
	},
	/*
	 * Move the next message of group $1 into the live table, readable from
	 * its own due time or now ($2), whichever is later: every visible_at
	 * written is the clock plus a delay (floor.c).
	 */
	[MQ_STMT_GROUP_PROMOTE] = {
		"WITH m AS (DELETE FROM %5$s WHERE msg_id" EQ "(SELECT msg_id FROM %5$s"
		" WHERE group_id" EQ "$1 ORDER BY group_id, msg_id LIMIT 1)"
		" RETURNING msg_id, visible_at, attempt, enqueued_at, body, headers,"
		" last_error, group_id, priority)"
		" INSERT INTO %1$s (msg_id, visible_at, attempt, enqueued_at, body,"
		" headers, last_error, group_id, priority)"
		" SELECT msg_id, GREATEST(visible_at, $2), attempt, enqueued_at, body,"
		" headers, last_error, group_id, priority FROM m",
		2, {TEXTOID, TIMESTAMPTZOID}
	},
	/* the worker: dedup keys whose window ended before $1, and empty groups */
	[MQ_STMT_DEDUP_PURGE] = {
		"DELETE FROM %7$s WHERE dedup_key" EQ "ANY (ARRAY("
		"SELECT dedup_key FROM %7$s WHERE enqueued_at" LT "$1"
		" ORDER BY enqueued_at LIMIT $2 FOR UPDATE SKIP LOCKED))"
		" AND enqueued_at" LT "$1",
		2, {TIMESTAMPTZOID, INT4OID}
	},
	[MQ_STMT_GROUP_PURGE] = {
		"DELETE FROM %6$s WHERE group_id" EQ "ANY (ARRAY("
		"SELECT group_id FROM %6$s WHERE n" EQ "0"
		" LIMIT $1 FOR UPDATE SKIP LOCKED)) AND n" EQ "0",
		1, {INT4OID}
	},
};

/*
 * The statement to run for stmt with these parameters: the reads and pops
 * of one message ($3, qty, is 1) have a cheaper statement of their own.
 * (0, MQ_STMT_SEND, is no statement's variant, so it means none.)
 */
static const MqStmtDef *
mq_stmt_def(MqStmt stmt, const MqQueue *queue)
{
	Assert(stmt >= 0 && stmt < MQ_NUM_STMTS);
	if (queue->v2 && stmt_defs_v2[stmt].sql != NULL)
		return &stmt_defs_v2[stmt];
	if (stmt_defs[stmt].sql == NULL)
		elog(ERROR, "statement %d needs the tables of mq 0.2", (int) stmt);
	return &stmt_defs[stmt];
}

MqStmt
MqStmtChoose(MqStmt stmt, const MqQueue *queue, Datum *values)
{
	const MqStmtDef *def = mq_stmt_def(stmt, queue);

	if (def->one != 0 && DatumGetInt32(values[2]) == 1)
		return def->one;
	return stmt;
}

/*
 * The position of the scan floor (two parameters, visible_at and msg_id)
 * among a statement's parameters, which MqExecute fills in; -1 if it takes
 * none.
 */
int
MqStmtFloorArg(MqStmt stmt, const MqQueue *queue)
{
	const MqStmtDef *def = mq_stmt_def(stmt, queue);

	return def->floor ? def->nargs - 2 : -1;
}

/* ... and of the four arrays of priority ranges (floor.c), or -1 */
int
MqStmtLevelsArg(MqStmt stmt, const MqQueue *queue)
{
	const MqStmtDef *def = mq_stmt_def(stmt, queue);

	return def->levels ? def->nargs - 4 : -1;
}

/*
 * The SQL text of a statement for a queue, and its parameter types.  The
 * placeholders are expanded here rather than by snprintf, which insists that
 * every positional argument be used.
 */
char *
MqStmtSql(MqStmt stmt, const MqQueue *queue, int *nargs, const Oid **argtypes)
{
	const MqStmtDef *def = mq_stmt_def(stmt, queue);
	const char *p = def->sql;
	StringInfoData buf;

	initStringInfo(&buf);
	while (*p)
	{
		if (p[0] == '%' && p[1] >= '1' && p[1] <= '8' && p[2] == '$' && p[3] == 's')
		{
			if (p[1] == '4')
				appendStringInfo(&buf, "%d", queue->max_attempts);
			else if (p[1] == '8')
				appendStringInfoString(&buf,
									   quote_literal_cstr(MqTableName('q', queue->name)));
			else
				appendStringInfoString(&buf, MqTableName("qda?pgk"[p[1] - '1'],
														 queue->name));
			p += 4;
		}
		else if (strncmp(p, "%9$s", 4) == 0)
		{
			if (queue->has_topic)
				appendStringInfoString(&buf, ", topic, routing_key");
			p += 4;
		}
		else
			appendStringInfoChar(&buf, *p++);
	}
	*nargs = def->nargs;
	*argtypes = def->argtypes;
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

/*
 * The tables a queue of 0.2 has besides those of 0.1 (see
 * sql/mq--0.1--0.2.sql, which gives the queues of a database updated from
 * 0.1 the same): p_, the messages of groups waiting behind their group's
 * head; g_, the groups with live messages and their counts; k_, the dedup
 * keys within their window.  Each is empty for a queue that does not use
 * what it is for, and no statement of such a queue touches it.
 */
char *
MqOrderTablesSql(const char *queue, bool unlogged)
{
	const char *persistence = unlogged ? "UNLOGGED" : "";

	return psprintf("CREATE %1$s TABLE %2$s ("
					" msg_id pg_catalog.int8 CONSTRAINT %7$s PRIMARY KEY,"
					" visible_at pg_catalog.timestamptz NOT NULL,"
					" attempt pg_catalog.int4 NOT NULL DEFAULT 0,"
					" enqueued_at pg_catalog.timestamptz NOT NULL,"
					" body pg_catalog.jsonb NOT NULL,"
					" headers pg_catalog.jsonb,"
					" last_error pg_catalog.text,"
					" group_id pg_catalog.text COLLATE pg_catalog.\"C\" NOT NULL,"
					" priority pg_catalog.int4 NOT NULL DEFAULT 0);"
					"CREATE INDEX %3$s ON %2$s (group_id, msg_id);"
					"CREATE %1$s TABLE %4$s ("
					" group_id pg_catalog.text COLLATE \"C\" CONSTRAINT %8$s PRIMARY KEY,"
					" n pg_catalog.int8 NOT NULL);"
					"CREATE %1$s TABLE %5$s ("
					" dedup_key pg_catalog.text COLLATE \"C\" CONSTRAINT %9$s PRIMARY KEY,"
					" msg_id pg_catalog.int8 NOT NULL,"
					" enqueued_at pg_catalog.timestamptz NOT NULL);"
					"CREATE INDEX %6$s ON %5$s (enqueued_at)",
					persistence,
					MqTableName('p', queue),
					MqObjectName('p', queue, "group", false),
					MqTableName('g', queue),
					MqTableName('k', queue),
					MqObjectName('k', queue, "enqueued_at", false),
					MqObjectName('p', queue, "pkey", false),
					MqObjectName('g', queue, "pkey", false),
					MqObjectName('k', queue, "pkey", false));
}

/*
 * The index that reads of a queue with priorities walk: a queue gets it
 * with its first message of a non-zero priority (order.c).
 */
char *
MqPriorityIndexSql(const char *queue)
{
	return psprintf("CREATE INDEX IF NOT EXISTS %s ON %s (priority DESC, visible_at, msg_id)",
					MqObjectName('q', queue, "priority", false),
					MqTableName('q', queue));
}
