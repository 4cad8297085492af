/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The catalog of queues: mq_create, mq_alter, mq_drop, mq_purge, and the
 *	  per-backend cache every other function goes through.
 *
 * Each backend keeps a hash table, keyed by queue name, of the queue's
 * options and its prepared statements.  An entry is dropped when a relcache
 * invalidation arrives for the queue's live table: DROP TABLE sends one, and
 * mq_alter sends one explicitly (CacheInvalidateRelcacheByRelid), so every
 * backend rereads the options at its next call after the change commits.
 * Every call also resolves the live table by name in the syscache, so an
 * entry made for a table created by a transaction that rolled back is never
 * used.
 *
 * The functions run their SQL as the extension owner (the owner of schema
 * "mq"), after checking the caller's privilege on the queue themselves; the
 * queue's tables belong to the extension owner, so nobody reaches them
 * except through these functions (or as a superuser).
 *
 * Besides the index on (visible_at, msg_id) that reads walk, a live table
 * has a partial index of its exhausted messages (attempt >= max_attempts),
 * through which the background worker finds expired last leases; it names
 * max_attempts, so mq_alter rebuilds it when that option changes.
 *
 * Locking: mq_create inserts the catalog row with ON CONFLICT DO NOTHING, so
 * two sessions creating the same queue serialise on the catalog's primary
 * key and the loser returns false.  mq_drop deletes the catalog row first
 * (a row lock that serialises concurrent drops and alters of one queue) and
 * then drops the tables, which waits for transactions that are using them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_create);
PG_FUNCTION_INFO_V1(mq_alter);
PG_FUNCTION_INFO_V1(mq_drop);
PG_FUNCTION_INFO_V1(mq_purge);

static HTAB *queue_cache = NULL;
static MemoryContext queue_cache_cxt = NULL;
static SPIPlanPtr load_plan = NULL;
static SPIPlanPtr load_kind_plan = NULL;	/* 0.2: with kind and partitions */

/*
 * Has the catalog of this database the columns of version 0.2 (kind,
 * partitions)?  A 0.1 database keeps working with this library until it is
 * updated; there everything is a queue.
 */
static bool
mq_catalog_has_kind(Oid nspid)
{
	Oid			catalog = get_relname_relid("queue", nspid);

	return OidIsValid(catalog) && get_attnum(catalog, "kind") != InvalidAttrNumber;
}

static void
mq_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	MqQueue    *entry;

	if (queue_cache == NULL)
		return;
	hash_seq_init(&status, queue_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || entry->relid == relid)
			entry->valid = false;
	}
}

void
MqCacheInit(void)
{
	CacheRegisterRelcacheCallback(mq_relcache_callback, (Datum) 0);
}

/* Free what an entry holds besides itself: its plans and grants. */
static void
mq_free_plans(MqQueue *queue)
{
	int			i;

	if (queue->grants != NULL)
		pfree(queue->grants);
	queue->grants = NULL;
	queue->ngrants = 0;

	for (i = 0; i < MQ_NUM_STMTS; i++)
	{
		if (queue->plans[i] != NULL)
			SPI_freeplan(queue->plans[i]);
		queue->plans[i] = NULL;
	}
	/* streams (0.2) */
	MqStreamFree(queue);
}

/*
 * Drop the entries of queues that were dropped or altered, with their plans.
 * A backend that lives long and sees many queues come and go (the worker)
 * calls this between transactions, when no plan of the cache is running.
 */
void
MqCachePrune(void)
{
	HASH_SEQ_STATUS status;
	MqQueue    *entry;

	if (queue_cache == NULL)
		return;
	hash_seq_init(&status, queue_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->valid)
			continue;
		mq_free_plans(entry);
		hash_search(queue_cache, entry->name, HASH_REMOVE, NULL);
	}
}

/* The internal schema's OID; its owner is the extension owner. */
Oid
MqNamespace(Oid *owner)
{
	Oid			nspid = get_namespace_oid(MQ_SCHEMA, true);
	HeapTuple	tup;

	if (!OidIsValid(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"%s\" of extension mq does not exist", MQ_SCHEMA),
				 errhint("Recreate the extension with DROP EXTENSION mq and CREATE EXTENSION mq.")));
	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	*owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return nspid;
}

/*
 * Run a cache-loading query with the latest snapshot rather than the
 * caller's.  The cache is reloaded once, at the invalidation that a change
 * of the catalog sends when it commits; a caller whose snapshot is older
 * than that commit (a waiting read, a REPEATABLE READ transaction) would
 * otherwise read the catalog as it was and keep that for good.  The latest
 * snapshot also sees this transaction's own earlier changes (mq_create
 * then mq_send in one transaction).
 */
int
MqExecuteLatest(SPIPlanPtr plan, Datum *args, long count)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	int			rc;

	rc = SPI_execute_snapshot(plan, args, NULL, snapshot, InvalidSnapshot,
							  true, false, count);
	UnregisterSnapshot(snapshot);
	return rc;
}

/* Read a queue's options from mq.queue into entry; false if no row. */
static bool
mq_load_queue(MqQueue *entry, bool has_kind)
{
	Datum		arg = CStringGetTextDatum(entry->name);
	SPIPlanPtr *planp = has_kind ? &load_kind_plan : &load_plan;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	if (*planp == NULL)
	{
		Oid			argtype = TEXTOID;
		SPIPlanPtr	plan;

		plan = SPI_prepare(has_kind ?
						   "SELECT owner::pg_catalog.oid, visibility_timeout,"
						   " max_attempts, retention, backoff_base,"
						   " backoff_max, unlogged, notify, kind, partitions"
						   " FROM mq.queue"
						   " WHERE queue_name OPERATOR(pg_catalog.=) $1" :
						   "SELECT owner::pg_catalog.oid, visibility_timeout,"
						   " max_attempts, retention, backoff_base,"
						   " backoff_max, unlogged, notify FROM mq.queue"
						   " WHERE queue_name OPERATOR(pg_catalog.=) $1",
						   1, &argtype);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*planp = plan;
	}
	if (MqExecuteLatest(*planp, &arg, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the catalog of queues");
	if (SPI_processed == 0)
		return false;

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	entry->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	entry->kind = MQ_KIND_QUEUE;
	entry->partitions = 0;
	if (has_kind)
	{
		char	   *kind = TextDatumGetCString(SPI_getbinval(tup, desc, 9, &isnull));

		entry->kind = strcmp(kind, "stream") == 0 ? MQ_KIND_STREAM : MQ_KIND_QUEUE;
		d = SPI_getbinval(tup, desc, 10, &isnull);
		entry->partitions = isnull ? 0 : DatumGetInt32(d);
	}
	d = SPI_getbinval(tup, desc, 4, &isnull);
	entry->has_retention = !isnull;
	entry->retention = isnull ? 0 : MqIntervalUsecs(d, "retention", true);
	entry->unlogged = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
	entry->notify = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
	/* the options of queues (NULL for streams) */
	if (entry->kind != MQ_KIND_QUEUE)
		return true;
	entry->visibility_timeout =
		MqIntervalUsecs(SPI_getbinval(tup, desc, 2, &isnull), "visibility_timeout", false);
	entry->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	entry->backoff_base =
		MqIntervalUsecs(SPI_getbinval(tup, desc, 5, &isnull), "backoff_base", true);
	entry->backoff_max =
		MqIntervalUsecs(SPI_getbinval(tup, desc, 6, &isnull), "backoff_max", true);
	return true;
}

/*
 * Start a call on a queue: connect to SPI, switch to the extension owner,
 * find the queue and check that the caller holds priv on it.  Returns NULL
 * for a queue that does not exist when missing_ok, else raises 42704.
 * Every successful MqBegin is paired with MqEnd; on error, transaction
 * abort restores the user id and releases SPI.
 */
MqQueue *
MqBegin(MqCall *call, const char *name, MqPrivilege priv, bool missing_ok)
{
	Oid			extowner;

	call->caller = GetUserId();
	call->queue = NULL;
	call->nspid = MqNamespace(&extowner);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	GetUserIdAndSecContext(&call->save_userid, &call->save_sec_context);
	SetUserIdAndSecContext(extowner,
						   call->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	if (name == NULL)
		return NULL;
	call->queue = MqLookup(call, name, missing_ok);
	if (call->queue != NULL)
	{
		MqCheckPrivilege(call, call->queue, priv & ~MQ_ANY_KIND);
		/* after the privilege check, so that the kind is not revealed */
		if (call->queue->kind != MQ_KIND_QUEUE && !(priv & MQ_ANY_KIND))
			MqWrongKind(call->queue, priv);
	}
	return call->queue;
}

/*
 * Find a queue in the cache, (re)loading it from the catalog if needed.
 * Needs an MqBegin'd call.  Returns NULL for an unknown queue when
 * missing_ok, else raises 42704.
 */
MqQueue *
MqLookup(MqCall *call, const char *name, bool missing_ok)
{
	Oid			relid;
	MqQueue    *entry = NULL;
	bool		found;
	bool		has_kind;

	if (queue_cache == NULL)
	{
		HASHCTL		ctl;

		queue_cache_cxt = AllocSetContextCreate(TopMemoryContext, "mq queue cache",
												ALLOCSET_SMALL_SIZES);
		ctl.keysize = MQ_NAME_MAXLEN + 1;
		ctl.entrysize = sizeof(MqQueue);
		ctl.hcxt = queue_cache_cxt;
		queue_cache = hash_create("mq queues", 16, &ctl,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}

	relid = get_relname_relid(psprintf("q_%s", name), call->nspid);
	/* a stream (0.2) is known by its table of records */
	has_kind = mq_catalog_has_kind(call->nspid);
	if (!OidIsValid(relid) && has_kind)
		relid = get_relname_relid(psprintf("s_%s", name), call->nspid);
	if (OidIsValid(relid))
	{
		entry = hash_search(queue_cache, name, HASH_ENTER, &found);
		if (!found)
		{
			memset(entry->plans, 0, sizeof(entry->plans));
			entry->grants = NULL;
			entry->ngrants = 0;
			entry->stream = NULL;
			entry->valid = false;
		}
		if (!entry->valid || entry->relid != relid)
		{
			/* invalid until both loads succeed: an error may stop them */
			entry->valid = false;
			mq_free_plans(entry);
			MqFloorReset(entry);
			entry->relid = relid;
			if (mq_load_queue(entry, has_kind))
			{
				MqLoadGrants(entry, queue_cache_cxt);
				entry->valid = true;
			}
			else
				entry = NULL;
		}
	}
	if (entry == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name),
				 errhint("Create it with mq_create().")));
	return entry;
}

void
MqEnd(MqCall *call)
{
	SetUserIdAndSecContext(call->save_userid, call->save_sec_context);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}

/* A queue's prepared statement, prepared on first use. */
SPIPlanPtr
MqPlan(MqQueue *queue, MqStmt stmt)
{
	if (queue->plans[stmt] == NULL)
	{
		int			nargs;
		const Oid  *argtypes;
		const char *sql = MqStmtSql(stmt, queue, &nargs, &argtypes);
		SPIPlanPtr	plan;

		/*
		 * Always the generic plan: the statements are written so that it is
		 * the right one (see stmt.c), and a LIMIT $n would otherwise make the
		 * plan cache replan every call.
		 */
		plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes,
								  CURSOR_OPT_GENERIC_PLAN);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		queue->plans[stmt] = plan;
	}
	return queue->plans[stmt];
}

/*
 * Run one of a queue's statements.  The statements that pick readable
 * messages take the queue's scan floor as their last two parameters, which
 * the caller does not pass: they are added here, after moving the floor up
 * if it is time to (floor.c).  A read or pop of one message runs its own
 * cheaper statement (MqStmtChoose).
 */
int
MqExecute(MqQueue *queue, MqStmt stmt, Datum *values, const char *nulls, long count)
{
	SPIPlanPtr	plan;
	int			floorarg = MqStmtFloorArg(stmt);
	Datum		fvalues[MQ_MAX_ARGS];
	char		fnulls[MQ_MAX_ARGS];
	int			rc;

	if (floorarg >= 0)
	{
		Assert(floorarg + 2 <= MQ_MAX_ARGS);
		stmt = MqStmtChoose(stmt, values);
		MqFloorAdvance(queue);
		memcpy(fvalues, values, floorarg * sizeof(Datum));
		if (nulls)
			memcpy(fnulls, nulls, floorarg);
		else
			memset(fnulls, ' ', floorarg);
		fvalues[floorarg] = TimestampTzGetDatum(queue->scan_floor);
		fvalues[floorarg + 1] = Int64GetDatum(queue->scan_floor_id);
		fnulls[floorarg] = fnulls[floorarg + 1] = ' ';
		values = fvalues;
		nulls = fnulls;
	}
	plan = MqPlan(queue, stmt);
	rc = SPI_execute_plan(plan, values, nulls, false, count);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return rc;
}

/*
 * Add the rows of the last statement to the result set of a set-returning
 * function (set up by InitMaterializedSRF): the statements are written to
 * return rows shaped like the function's result.
 */
void
MqReturnRows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		row;

	for (row = 0; row < SPI_processed; row++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[row]);
}

static void
mq_check_backoff(int64 base, int64 max)
{
	if (max < base)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backoff_max must not be less than backoff_base")));
}

static void
mq_create_tables(const char *name, bool unlogged, int32 max_attempts)
{
	const char *persistence = unlogged ? "UNLOGGED" : "";
	char	   *sql;

	sql = psprintf("CREATE %1$s TABLE %2$s ("
				   " msg_id pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
				   " visible_at pg_catalog.timestamptz NOT NULL,"
				   " attempt pg_catalog.int4 NOT NULL DEFAULT 0,"
				   " enqueued_at pg_catalog.timestamptz NOT NULL,"
				   " lease_expires_at pg_catalog.timestamptz,"
				   " body pg_catalog.jsonb NOT NULL,"
				   " headers pg_catalog.jsonb,"
				   " last_error pg_catalog.text)"
				   " WITH (autovacuum_vacuum_scale_factor = 0.01,"
				   " autovacuum_vacuum_insert_scale_factor = 0.01);"
				   "CREATE INDEX %3$s ON %2$s (visible_at, msg_id);"
				   "CREATE %1$s TABLE %4$s ("
				   " msg_id pg_catalog.int8 PRIMARY KEY,"
				   " attempt pg_catalog.int4 NOT NULL,"
				   " enqueued_at pg_catalog.timestamptz NOT NULL,"
				   " dead_at pg_catalog.timestamptz NOT NULL,"
				   " reason pg_catalog.text NOT NULL,"
				   " last_error pg_catalog.text,"
				   " body pg_catalog.jsonb NOT NULL,"
				   " headers pg_catalog.jsonb);"
				   "CREATE INDEX %5$s ON %4$s (dead_at, msg_id);"
				   "CREATE %1$s TABLE %6$s ("
				   " msg_id pg_catalog.int8 PRIMARY KEY,"
				   " attempt pg_catalog.int4 NOT NULL,"
				   " enqueued_at pg_catalog.timestamptz NOT NULL,"
				   " acked_at pg_catalog.timestamptz NOT NULL,"
				   " result pg_catalog.jsonb);"
				   "CREATE INDEX %7$s ON %6$s (acked_at)",
				   persistence,
				   MqTableName('q', name),
				   quote_identifier(psprintf("q_%s_visible", name)),
				   MqTableName('d', name),
				   quote_identifier(psprintf("d_%s_dead_at", name)),
				   MqTableName('a', name),
				   quote_identifier(psprintf("a_%s_acked_at", name)));
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY ||
		SPI_execute(MqExhaustedIndexSql(name, max_attempts), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the tables of queue \"%s\"", name);
}

Datum
mq_create(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	Datum		values[9];
	char		nulls[9];
	Oid			argtypes[9] = {TEXTOID, OIDOID, INTERVALOID, INT4OID,
	INTERVALOID, INTERVALOID, INTERVALOID, BOOLOID, BOOLOID};
	bool		created;

	MqArgNotNull(fcinfo, 1, "visibility_timeout");
	MqArgNotNull(fcinfo, 2, "max_attempts");
	MqArgNotNull(fcinfo, 4, "backoff_base");
	MqArgNotNull(fcinfo, 5, "backoff_max");
	MqArgNotNull(fcinfo, 6, "unlogged");
	MqArgNotNull(fcinfo, 7, "notify");
	MqIntervalUsecs(PG_GETARG_DATUM(1), "visibility_timeout", false);
	MqCheckMaxAttempts(PG_GETARG_INT32(2));
	mq_check_backoff(MqIntervalUsecs(PG_GETARG_DATUM(4), "backoff_base", true),
					 MqIntervalUsecs(PG_GETARG_DATUM(5), "backoff_max", true));

	memset(nulls, ' ', sizeof(nulls));
	/* a zero retention means none */
	if (PG_ARGISNULL(3) || MqIntervalUsecs(PG_GETARG_DATUM(3), "retention", true) == 0)
		nulls[4] = 'n';

	MqBegin(&call, NULL, 0, true);

	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(call.caller);
	values[2] = PG_GETARG_DATUM(1);
	values[3] = PG_GETARG_DATUM(2);
	values[4] = nulls[4] == 'n' ? (Datum) 0 : PG_GETARG_DATUM(3);
	values[5] = PG_GETARG_DATUM(4);
	values[6] = PG_GETARG_DATUM(5);
	values[7] = PG_GETARG_DATUM(6);
	values[8] = PG_GETARG_DATUM(7);

	if (SPI_execute_with_args("INSERT INTO mq.queue (queue_name, owner,"
							  " visibility_timeout, max_attempts, retention,"
							  " backoff_base, backoff_max, unlogged, notify)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
							  " ON CONFLICT (queue_name) DO NOTHING",
							  9, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into the catalog of queues");
	created = (SPI_processed == 1);
	/* a name of another kind, or someone else's, is not "already there" */
	if (!created)
		MqCheckExisting(&call, name, MQ_KIND_QUEUE);
	if (created)
		mq_create_tables(name, PG_GETARG_BOOL(6), PG_GETARG_INT32(2));

	MqEnd(&call);
	PG_RETURN_BOOL(created);
}

/*
 * Arguments that are NULL leave their option as it is.  A zero retention
 * turns retention off.
 */
Datum
mq_alter(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	Datum		values[9];
	char		nulls[9];
	Oid			argtypes[9] = {TEXTOID, INTERVALOID, INT4OID, INTERVALOID,
	INTERVALOID, INTERVALOID, BOOLOID, BOOLOID, BOOLOID};
	int			i;
	bool		unlogged;

	if (!PG_ARGISNULL(1))
		MqIntervalUsecs(PG_GETARG_DATUM(1), "visibility_timeout", false);
	if (!PG_ARGISNULL(2))
		MqCheckMaxAttempts(PG_GETARG_INT32(2));

	queue = MqBegin(&call, name, MQ_PRIV_MANAGE | MQ_ANY_KIND, false);
	/* streams have retention only (stream.c) */
	if (queue->kind != MQ_KIND_QUEUE)
	{
		MqStreamAlter(fcinfo, &call, queue);
		MqEnd(&call);
		PG_RETURN_VOID();
	}

	mq_check_backoff(PG_ARGISNULL(4) ? queue->backoff_base :
					 MqIntervalUsecs(PG_GETARG_DATUM(4), "backoff_base", true),
					 PG_ARGISNULL(5) ? queue->backoff_max :
					 MqIntervalUsecs(PG_GETARG_DATUM(5), "backoff_max", true));
	unlogged = PG_ARGISNULL(6) ? queue->unlogged : PG_GETARG_BOOL(6);

	/* the DDL below waits for waiting reads unless they end now */
	if (unlogged != queue->unlogged ||
		(!PG_ARGISNULL(2) && PG_GETARG_INT32(2) != queue->max_attempts))
		MqWaitInterrupt(queue);

	values[0] = CStringGetTextDatum(name);
	nulls[0] = ' ';
	for (i = 1; i <= 6; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	values[7] = BoolGetDatum(!PG_ARGISNULL(3));
	nulls[7] = ' ';
	values[8] = PG_ARGISNULL(7) ? (Datum) 0 : PG_GETARG_DATUM(7);
	nulls[8] = PG_ARGISNULL(7) ? 'n' : ' ';
	if (!PG_ARGISNULL(3) && MqIntervalUsecs(PG_GETARG_DATUM(3), "retention", true) == 0)
		nulls[3] = 'n';

	if (SPI_execute_with_args("UPDATE mq.queue SET"
							  " visibility_timeout = COALESCE($2, visibility_timeout),"
							  " max_attempts = COALESCE($3, max_attempts),"
							  " retention = CASE WHEN $8 THEN $4 ELSE retention END,"
							  " backoff_base = COALESCE($5, backoff_base),"
							  " backoff_max = COALESCE($6, backoff_max),"
							  " unlogged = COALESCE($7, unlogged),"
							  " notify = COALESCE($9, notify)"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
							  9, argtypes, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the catalog of queues");

	if (unlogged != queue->unlogged)
	{
		const char *set = unlogged ? "UNLOGGED" : "LOGGED";

		if (SPI_execute(psprintf("ALTER TABLE %s SET %s; ALTER TABLE %s SET %s;"
								 " ALTER TABLE %s SET %s",
								 MqTableName('q', name), set,
								 MqTableName('d', name), set,
								 MqTableName('a', name), set),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not alter the tables of queue \"%s\"", name);
	}

	/* the partial index of exhausted messages names max_attempts */
	if (!PG_ARGISNULL(2) && PG_GETARG_INT32(2) != queue->max_attempts)
	{
		if (SPI_execute(psprintf("DROP INDEX %s",
								 quote_qualified_identifier(MQ_SCHEMA,
															psprintf("q_%s_exhausted", name))),
						false, 0) != SPI_OK_UTILITY ||
			SPI_execute(MqExhaustedIndexSql(name, PG_GETARG_INT32(2)),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not rebuild the index of exhausted messages of queue \"%s\"",
				 name);
	}

	/* every backend (this one included) rereads the options */
	CacheInvalidateRelcacheByRelid(queue->relid);
	/* waiting readers reread them too: more attempts may make messages readable */
	MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT);

	MqEnd(&call);
	PG_RETURN_VOID();
}

Datum
mq_drop(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	Oid			argtype = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);
	bool		dropped = false;

	queue = MqBegin(&call, name, MQ_PRIV_MANAGE | MQ_ANY_KIND, true);
	if (queue != NULL && queue->kind == MQ_KIND_STREAM)
	{
		/* streams (stream.c) */
		dropped = MqStreamDrop(&call, queue);
	}
	else if (queue != NULL)
	{
		if (SPI_execute_with_args("DELETE FROM mq.queue"
								  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
								  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete from the catalog of queues");
		/* a concurrent mq_drop that committed first leaves nothing to drop */
		dropped = (SPI_processed == 1);
		/* DROP TABLE waits for waiting reads and statuses unless they end now */
		if (dropped)
			MqWaitInterrupt(queue);
		if (dropped &&
			SPI_execute_with_args("DELETE FROM mq.grant"
								  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
								  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete the grants of queue \"%s\"", name);
		if (dropped &&
			SPI_execute(psprintf("DROP TABLE %s, %s, %s",
								 MqTableName('q', name), MqTableName('d', name),
								 MqTableName('a', name)),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not drop the tables of queue \"%s\"", name);
	}
	MqEnd(&call);
	PG_RETURN_BOOL(dropped);
}

Datum
mq_purge(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	MqQueue    *queue;
	uint64		removed;

	queue = MqBegin(&call, name, MQ_PRIV_MANAGE, false);
	MqExecute(queue, MQ_STMT_PURGE, NULL, NULL, 0);
	removed = SPI_processed;
	/* producers waiting in mq_status on a purged message stop waiting */
	if (removed > 0)
		MqWakeupRegister(queue, MQ_WAKE_STATUS_ON_COMMIT);
	MqEnd(&call);
	PG_RETURN_INT64((int64) removed);
}
