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
 * except through these functions (or as a superuser).  DDL run that way
 * first pins the session settings that would let the caller choose where
 * it goes or what code runs with it (MqOwnerSettings; docs/security.md).
 *
 * Besides the index on (visible_at, msg_id) that reads walk, a live table
 * has a partial index of its exhausted messages (attempt >= max_attempts),
 * through which the background worker finds expired last leases; it names
 * max_attempts, so mq_alter rebuilds it when that option changes.
 *
 * Locking: mq_create inserts the catalog row with ON CONFLICT DO NOTHING, so
 * two sessions creating the same queue serialise on the catalog's primary
 * key and the loser returns false (or fails with 42710 if it may not manage
 * the winner's queue).  mq_drop deletes the catalog row first
 * (a row lock that serialises concurrent drops and alters of one queue) and
 * then drops the tables, which waits for transactions that are using them.
 *
 * Topics (topic.c) share the catalog and its namespace but have no tables:
 * a queue function given a topic's name fails with 42809 once the caller's
 * privilege on it has been checked (MqBegin), and mq_drop drops topics too.
 * Dropping a queue or topic removes its bindings (the foreign keys of
 * mq.binding cascade) and invalidates the backends' topic caches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_create);
PG_FUNCTION_INFO_V1(mq_alter);
PG_FUNCTION_INFO_V1(mq_drop);
PG_FUNCTION_INFO_V1(mq_purge);

/*
 * Most queues a backend keeps in its cache.  A backend that goes over more
 * (mq_metrics() of every queue, a worker's first pass) evicts the least
 * recently used entries, with their plans and the relcache entries of their
 * tables, so that its memory does not grow with the number of queues.
 */
#define MQ_CACHE_QUEUES		64

static HTAB *queue_cache = NULL;
static MemoryContext queue_cache_cxt = NULL;
static SPIPlanPtr load_plan = NULL;
static uint64 cache_clock = 0;
static int	cache_pins = 0;
static uint64 cache_evictions = 0;
static SPIPlanPtr load_plan_v2 = NULL;	/* 0.2: kind, partitions, options */

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

/* A call that failed never unpinned its entry: unpin all at the end. */
static void
mq_cache_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	MqQueue    *entry;

	if (cache_pins == 0 || queue_cache == NULL)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	hash_seq_init(&status, queue_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->pins = 0;
	cache_pins = 0;
}

void
MqCacheInit(void)
{
	CacheRegisterRelcacheCallback(mq_relcache_callback, (Datum) 0);
	RegisterXactCallback(mq_cache_xact_callback, NULL);
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
 * Drop the relcache entries of the tables an evicted entry's plans used,
 * and of their indexes and sequence, as a relcache invalidation would:
 * entries of relations that are open are rebuilt, not dropped.  Nothing
 * else ever drops them, and at some 50 kB a queue they are most of what a
 * backend that goes over thousands of queues would keep.
 */
static void
mq_forget_relations(MqQueue *entry, Oid nspid)
{
	int			k;

	for (k = 0; k < 3; k++)
	{
		Oid			relid;
		Relation	rel;
		List	   *relids;
		Oid			toastid;
		ListCell   *lc;

		if ((entry->touched & (1 << k)) == 0)
			continue;
		relid = k == 0 ? entry->relid :
			get_relname_relid(psprintf("%c_%s", "qda"[k], entry->name), nspid);
		if (!OidIsValid(relid) || (rel = RelationIdGetRelation(relid)) == NULL)
			continue;
		relids = RelationGetIndexList(rel);
		toastid = rel->rd_rel->reltoastrelid;
		RelationClose(rel);
		if (k == 0)
			relids = list_concat(relids, getOwnedSequences(relid));
		if (OidIsValid(toastid))
			relids = lappend_oid(relids, toastid);
		relids = lappend_oid(relids, relid);
		foreach(lc, relids)
			RelationCacheInvalidateEntry(lfirst_oid(lc));
		list_free(relids);
	}
	entry->touched = 0;
}

/* Evict least recently used entries, other than keep, down to the cap. */
static void
mq_cache_evict(MqQueue *keep, Oid nspid)
{
	while (hash_get_num_entries(queue_cache) > MQ_CACHE_QUEUES)
	{
		HASH_SEQ_STATUS status;
		MqQueue    *entry;
		MqQueue    *victim = NULL;

		hash_seq_init(&status, queue_cache);
		while ((entry = hash_seq_search(&status)) != NULL)
		{
			if (entry != keep && entry->pins == 0 &&
				(victim == NULL || entry->last_used < victim->last_used))
				victim = entry;
		}
		if (victim == NULL)
			break;
		mq_forget_relations(victim, nspid);

		/*
		 * The catalog caches keep a row or two of pg_class, pg_index and
		 * pg_statistic for every relation planned; drop them now and then,
		 * as an invalidation of those catalogs would.
		 */
		if (++cache_evictions % (MQ_CACHE_QUEUES * 4) == 0)
		{
			CatalogCacheFlushCatalog(RelationRelationId);
			CatalogCacheFlushCatalog(IndexRelationId);
			CatalogCacheFlushCatalog(StatisticRelationId);
		}
		mq_free_plans(victim);
		hash_search(queue_cache, victim->name, HASH_REMOVE, NULL);
	}
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
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	/* a database not yet updated from 0.1 has 0.1's catalog */
	bool		v2 = MqCatalogV2(get_rel_namespace(entry->relid));
	SPIPlanPtr *planp = v2 ? &load_plan_v2 : &load_plan;

	/* the update gives the catalog kind and the options of 0.2 together */
	if (v2 != has_kind)
		elog(ERROR, "the catalog of queues is only partly updated to version 0.2");

	if (*planp == NULL)
	{
		Oid			argtype = TEXTOID;
		SPIPlanPtr	plan;

		plan = SPI_prepare(psprintf("SELECT owner::pg_catalog.oid, visibility_timeout,"
									" max_attempts, retention, backoff_base,"
									" backoff_max, unlogged, notify%s FROM mq.queue"
									" WHERE queue_name OPERATOR(pg_catalog.=) $1",
									v2 ? ", kind, partitions, dedup_window, paused,"
									" rate_limit, priorities" : ""),
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
	{
		SPI_freetuptable(SPI_tuptable);
		return true;
	}
	entry->visibility_timeout =
		MqIntervalUsecs(SPI_getbinval(tup, desc, 2, &isnull), "visibility_timeout", false);
	entry->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	entry->backoff_base =
		MqIntervalUsecs(SPI_getbinval(tup, desc, 5, &isnull), "backoff_base", true);
	entry->backoff_max =
		MqIntervalUsecs(SPI_getbinval(tup, desc, 6, &isnull), "backoff_max", true);
	MqOrderLoad(entry, v2 ? tup : NULL, desc, 11);
	SPI_freetuptable(SPI_tuptable);
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
	call->guc_nestlevel = 0;

	/*
	 * Calls that use a queue's tables lock its live table when they look it
	 * up, before reading its options: a call that waited there for mq_drop
	 * then finds the queue gone (42704) rather than its statements failing
	 * on a dropped table.  mq_drop and mq_alter do not, as two of them would
	 * deadlock upgrading the lock; they serialise on the catalog row.
	 */
	call->lookup_lock = priv == MQ_PRIV_MANAGE ? NoLock : AccessShareLock;
	call->nspid = MqNamespace(&extowner);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	GetUserIdAndSecContext(&call->save_userid, &call->save_sec_context);
	SetUserIdAndSecContext(extowner,
						   call->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	if (name == NULL)
		return NULL;
	call->queue = MqLookup(call, name, true);
	if (call->queue != NULL)
	{
		/* a nested call must not evict it */
		call->queue->pins++;
		cache_pins++;
		if (!MqHasPrivilege(call, call->queue, priv & MQ_PRIV_MASK))
			MqPrivilegeDenied((priv & MQ_STREAM_CALL) ? "stream" : "queue",
							  call->queue->name, priv & MQ_PRIV_MASK);
		/* after the privilege check, so that the kind is not revealed */
		if (call->queue->kind != MQ_KIND_QUEUE && !(priv & MQ_ANY_KIND))
			MqWrongKind(call->queue, priv & MQ_PRIV_MASK);
	}
	else
	{
		/* a topic of that name: 42501 or 42809 */
		MqTopicNotQueue(call, name, priv & ~MQ_ANY_KIND);
		if (!missing_ok)
			MqLookup(call, name, false);	/* raises 42704 */
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

	if (call->lookup_lock != NoLock)
		relid = RangeVarGetRelidExtended(makeRangeVar(MQ_SCHEMA, psprintf("q_%s", name), -1),
										 call->lookup_lock, RVR_MISSING_OK, NULL, NULL);
	else
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
			entry->pins = 0;
			entry->touched = 0;
		}
		entry->last_used = ++cache_clock;
		if (!found)
			mq_cache_evict(entry, call->nspid);
		if (!entry->valid || entry->relid != relid)
		{
			/* invalid until both loads succeed: an error may stop them */
			entry->valid = false;
			mq_free_plans(entry);
			MqFloorReset(entry);
			entry->relid = relid;
			entry->has_topic = get_attnum(relid, "topic") != InvalidAttrNumber;
			if (mq_load_queue(entry, has_kind))
			{
				/*
				 * 0.2's statements (stmt_defs_v2) name group_id, priority,
				 * topic and routing_key: the update adds them together
				 */
				if (entry->v2 && !entry->has_topic)
					elog(ERROR, "the tables of queue \"%s\" are only partly updated to version 0.2",
						 name);
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
	if (call->queue != NULL && call->queue->pins > 0)
	{
		call->queue->pins--;
		cache_pins--;
	}
	if (call->guc_nestlevel > 0)
		AtEOXact_GUC(true, call->guc_nestlevel);
	call->guc_nestlevel = 0;
	SetUserIdAndSecContext(call->save_userid, call->save_sec_context);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}

/*
 * The settings pinned while mq runs DDL with the extension owner's rights on
 * a caller's behalf (docs/security.md).  Each either decides where or how
 * the DDL creates what it creates, or which code the owner's session
 * reaches by name: event triggers run during the DDL as the owner, with
 * this session's settings.  No "$user": it would be a schema named after the
 * extension owner, which a role allowed to create schemas could make.
 * public stays, so that an event trigger's unqualified names find the
 * administrator's tables there; pg_temp, which is searched first for
 * relations and types unless named,
 * is named last, so that the caller's temporary tables never shadow the
 * owner's; functions and operators are never looked up there.
 */
static const struct
{
	const char *name;
	const char *value;
}			mq_owner_settings[] =
{
	{"search_path", "pg_catalog, public, pg_temp"},
	{"default_tablespace", ""},
	{"temp_tablespaces", ""},
	{"default_table_access_method", "heap"},
	{"transform_null_equals", "off"},
	{"standard_conforming_strings", "on"},
};

/*
 * Refuse to run DDL with the owner's rights while event triggers are enabled
 * and this session has temporary relations or types.  With pg_temp last in
 * the search path, an event trigger of the owner finds its own tables
 * first; but a name it uses that exists nowhere else (a table it creates on
 * first use, one looked up with to_regclass) would still resolve to a
 * temporary table of the caller, whose triggers would then run as the
 * owner.  Sessions without temporary objects, and databases without event
 * triggers, are not affected.
 */
static void
mq_check_temp_objects(void)
{
	Oid			tempns;
	Oid			temptoastns;
	Oid			argtype = OIDOID;
	Datum		arg;
	bool		isnull;

	GetTempNamespaceState(&tempns, &temptoastns);
	if (!OidIsValid(tempns))
		return;
	arg = ObjectIdGetDatum(tempns);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger"
							  " WHERE evtenabled OPERATOR(pg_catalog.<>) 'D')"
							  " AND (EXISTS (SELECT FROM pg_catalog.pg_class"
							  " WHERE relnamespace OPERATOR(pg_catalog.=) $1)"
							  " OR EXISTS (SELECT FROM pg_catalog.pg_type"
							  " WHERE typnamespace OPERATOR(pg_catalog.=) $1))",
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for temporary objects");
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								   1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot create, alter or drop queue tables while this session has temporary tables"),
				 errdetail("Event triggers run with the rights of the owner of extension mq during this command and could reach this session's temporary objects."),
				 errhint("Run the command in a session without temporary tables, or run DISCARD TEMP first.")));
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Pin the settings that change what the owner's DDL does or which code it
 * reaches, until MqEnd (or the end of the transaction or subtransaction, on
 * error), as PostgreSQL does for SECURITY DEFINER functions and index
 * builds; then refuse if the caller's temporary objects could still be
 * reached.  Needs an MqBegin'd call, which has switched to the owner.
 */
void
MqOwnerSettings(MqCall *call)
{
	int			i;

	if (call->guc_nestlevel > 0)
		return;
	call->guc_nestlevel = NewGUCNestLevel();
	for (i = 0; i < lengthof(mq_owner_settings); i++)
		(void) set_config_option(mq_owner_settings[i].name,
								 mq_owner_settings[i].value,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	mq_check_temp_objects();
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
		queue->touched |= 1;
		if (strstr(sql, MqTableName('d', queue->name)) != NULL)
			queue->touched |= 2;
		if (strstr(sql, MqTableName('a', queue->name)) != NULL)
			queue->touched |= 4;
	}
	return queue->plans[stmt];
}

/*
 * Tell the worker (due.c) if any of the n rows of a read (shaped as
 * mq_message) holds a message leased on its last attempt: it must watch
 * that lease's end.
 */
void
MqNoteLeases(MqQueue *queue, SPITupleTable *rows, uint64 n)
{
	uint64		row;
	bool		isnull;

	for (row = 0; row < n; row++)
	{
		if (DatumGetInt32(heap_getattr(rows->vals[row], 2, rows->tupdesc,
									   &isnull)) >= queue->max_attempts)
		{
			MqDueTouch(queue);
			break;
		}
	}
}

/*
 * Tell the worker (due.c) about work a statement made for it: a message
 * leased on its last attempt, whose lease end it must watch, or a retained
 * ack, whose retention end it must.  Every statement that leases or
 * retains is listed, with or without priorities or groups: one left out
 * leaves its work to the worker's slow round of every queue.
 */
static void
mq_note_work(MqQueue *queue, MqStmt stmt)
{
	switch (stmt)
	{
		case MQ_STMT_READ:
		case MQ_STMT_READ_ONE:
		case MQ_STMT_READ_PRIO:
		case MQ_STMT_READ_PRIO_ONE:
			MqNoteLeases(queue, SPI_tuptable, SPI_processed);
			break;
		case MQ_STMT_ACK_RETAIN:
		case MQ_STMT_ACK_IDS_RETAIN:
		case MQ_STMT_ACK_GROUP_RETAIN:
		case MQ_STMT_ACK_IDS_GROUP_RETAIN:
		case MQ_STMT_POP_RETAIN:
		case MQ_STMT_POP_ONE_RETAIN:
		case MQ_STMT_POP_PRIO_RETAIN:
		case MQ_STMT_POP_PRIO_ONE_RETAIN:
			if (SPI_processed > 0)
				MqDueTouch(queue);
			break;
		default:
			break;
	}
}

/*
 * Run one of a queue's statements.  The statements that pick readable
 * messages take the queue's scan floor as their last two parameters, which
 * the caller does not pass: they are added here, after moving the floor up
 * if it is time to (floor.c); those of a queue with priorities take the
 * ranges of priorities with their floors as their last four.  A read or
 * pop of one message runs its own cheaper statement (MqStmtChoose).
 */
int
MqExecute(MqQueue *queue, MqStmt stmt, Datum *values, const char *nulls, long count)
{
	SPIPlanPtr	plan;
	int			floorarg = MqStmtFloorArg(stmt, queue);
	int			levelsarg = MqStmtLevelsArg(stmt, queue);
	Datum		fvalues[MQ_MAX_ARGS];
	char		fnulls[MQ_MAX_ARGS];
	int			rc;
	int			i;

	if (levelsarg >= 0 || floorarg >= 0)
	{
		/* the caller's arguments, then the floor, or the priority ranges */
		int			nargs = levelsarg >= 0 ? levelsarg : floorarg;

		Assert(nargs + (levelsarg >= 0 ? 4 : 2) <= MQ_MAX_ARGS);
		stmt = MqStmtChoose(stmt, queue, values);
		MqFloorAdvance(queue);
		memcpy(fvalues, values, nargs * sizeof(Datum));
		if (nulls)
			memcpy(fnulls, nulls, nargs);
		else
			memset(fnulls, ' ', nargs);
		if (levelsarg >= 0)
			MqLevelsArgs(queue, fvalues + nargs, fnulls + nargs);
		else
		{
			fvalues[nargs] = TimestampTzGetDatum(queue->scan_floor);
			fvalues[nargs + 1] = Int64GetDatum(queue->scan_floor_id);
			fnulls[nargs] = fnulls[nargs + 1] = ' ';
		}
		values = fvalues;
		nulls = fnulls;
	}
	plan = MqPlan(queue, stmt);
	rc = SPI_execute_plan(plan, values, nulls, false, count);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	/* a waiting read runs this many times before SPI_finish */
	for (i = 0; levelsarg >= 0 && i < 4; i++)
		pfree(DatumGetPointer(fvalues[levelsarg + i]));
	mq_note_work(queue, stmt);
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
	MqReturnTable(fcinfo, SPI_tuptable, SPI_processed);
}

/* ... or n rows given */
void
MqReturnTable(FunctionCallInfo fcinfo, SPITupleTable *rows, uint64 n)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		row;

	for (row = 0; row < n; row++)
		tuplestore_puttuple(rsinfo->setResult, rows->vals[row]);
}

static void
mq_check_backoff(int64 base, int64 max)
{
	if (max < base)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backoff_max must not be less than backoff_base")));
}

/*
 * The tables of a new queue; v2: with the columns and tables of 0.2, in the
 * order that sql/mq--0.1--0.2.sql gives an updated queue.
 */
static void
mq_create_tables(const char *name, bool unlogged, int32 max_attempts, bool v2,
				 Oid nspid)
{
	const char *persistence = unlogged ? "UNLOGGED" : "";
	/*
	 * 0.2's columns, in the order the update script adds them to a queue of
	 * 0.1: group_id and priority, then topic and routing_key (a database
	 * still on 0.1 has neither)
	 */
	const char *cols = psprintf("%s%s",
								v2 ? ", group_id pg_catalog.text COLLATE pg_catalog.\"C\","
								" priority pg_catalog.int4 NOT NULL DEFAULT 0" : "",
								OidIsValid(MqBindingRelid(nspid)) ?
								", topic pg_catalog.text, routing_key pg_catalog.text" : "");
	char	   *sql;

	sql = psprintf("CREATE %1$s TABLE %2$s ("
				   " msg_id pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY"
				   " (SEQUENCE NAME %8$s) CONSTRAINT %9$s PRIMARY KEY,"
				   " visible_at pg_catalog.timestamptz NOT NULL,"
				   " attempt pg_catalog.int4 NOT NULL DEFAULT 0,"
				   " enqueued_at pg_catalog.timestamptz NOT NULL,"
				   " lease_expires_at pg_catalog.timestamptz,"
				   " body pg_catalog.jsonb NOT NULL,"
				   " headers pg_catalog.jsonb,"
				   " last_error pg_catalog.text%12$s)"
				   " WITH (autovacuum_vacuum_scale_factor = 0.01,"
				   " autovacuum_vacuum_insert_scale_factor = 0.01);"
				   "CREATE INDEX %3$s ON %2$s (visible_at, msg_id);"
				   "CREATE %1$s TABLE %4$s ("
				   " msg_id pg_catalog.int8 CONSTRAINT %10$s PRIMARY KEY,"
				   " attempt pg_catalog.int4 NOT NULL,"
				   " enqueued_at pg_catalog.timestamptz NOT NULL,"
				   " dead_at pg_catalog.timestamptz NOT NULL,"
				   " reason pg_catalog.text NOT NULL,"
				   " last_error pg_catalog.text,"
				   " body pg_catalog.jsonb NOT NULL,"
				   " headers pg_catalog.jsonb%12$s);"
				   "CREATE INDEX %5$s ON %4$s (dead_at, msg_id);"
				   "CREATE %1$s TABLE %6$s ("
				   " msg_id pg_catalog.int8 CONSTRAINT %11$s PRIMARY KEY,"
				   " attempt pg_catalog.int4 NOT NULL,"
				   " enqueued_at pg_catalog.timestamptz NOT NULL,"
				   " acked_at pg_catalog.timestamptz NOT NULL,"
				   " result pg_catalog.jsonb);"
				   "CREATE INDEX %7$s ON %6$s (acked_at)",
				   persistence,
				   MqTableName('q', name),
				   MqObjectName('q', name, "visible", false),
				   MqTableName('d', name),
				   MqObjectName('d', name, "dead_at", false),
				   MqTableName('a', name),
				   MqObjectName('a', name, "acked_at", false),
				   MqObjectName('q', name, "msg_id_seq", true),
				   MqObjectName('q', name, "pkey", false),
				   MqObjectName('d', name, "pkey", false),
				   MqObjectName('a', name, "pkey", false),
				   cols);
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY ||
		SPI_execute(MqExhaustedIndexSql(name, max_attempts), false, 0) != SPI_OK_UTILITY ||
		(v2 && SPI_execute(MqOrderTablesSql(name, unlogged), false, 0) != SPI_OK_UTILITY))
		elog(ERROR, "could not create the tables of queue \"%s\"", name);
}

Datum
mq_create(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqCall		call;
	Datum		values[12];
	char		nulls[12];
	Oid			argtypes[12] = {TEXTOID, OIDOID, INTERVALOID, INT4OID,
		INTERVALOID, INTERVALOID, INTERVALOID, BOOLOID, BOOLOID,
	INTERVALOID, BOOLOID, INT4OID};
	bool		created;
	bool		v2;
	/* 0.1's mq_create had 8 arguments */
	bool		order_args = PG_NARGS() > 8;

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
	if (order_args)
	{
		MqArgNotNull(fcinfo, 8, "dedup_window");
		MqArgNotNull(fcinfo, 9, "paused");
		MqArgNotNull(fcinfo, 10, "rate_limit");
		MqIntervalUsecs(PG_GETARG_DATUM(8), "dedup_window", true);
		MqCheckRateLimit(PG_GETARG_INT32(10));
	}

	memset(nulls, ' ', sizeof(nulls));
	/* a zero retention means none */
	if (PG_ARGISNULL(3) || MqIntervalUsecs(PG_GETARG_DATUM(3), "retention", true) == 0)
		nulls[4] = 'n';

	MqBegin(&call, NULL, 0, true);
	MqOwnerSettings(&call);

	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(call.caller);
	values[2] = PG_GETARG_DATUM(1);
	values[3] = PG_GETARG_DATUM(2);
	values[4] = nulls[4] == 'n' ? (Datum) 0 : PG_GETARG_DATUM(3);
	values[5] = PG_GETARG_DATUM(4);
	values[6] = PG_GETARG_DATUM(5);
	values[7] = PG_GETARG_DATUM(6);
	values[8] = PG_GETARG_DATUM(7);
	/* the options of 0.2, with their defaults when called as 0.1 */
	values[9] = order_args ? PG_GETARG_DATUM(8) :
		DirectFunctionCall3(interval_in, CStringGetDatum("5 minutes"),
							ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	values[10] = order_args ? PG_GETARG_DATUM(9) : BoolGetDatum(false);
	values[11] = order_args ? PG_GETARG_DATUM(10) : Int32GetDatum(0);

	v2 = MqCatalogV2(call.nspid);
	if (SPI_execute_with_args(v2 ?
							  "INSERT INTO mq.queue (queue_name, owner,"
							  " visibility_timeout, max_attempts, retention,"
							  " backoff_base, backoff_max, unlogged, notify,"
							  " dedup_window, paused, rate_limit)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
							  " $11, $12) ON CONFLICT (queue_name) DO NOTHING" :
							  "INSERT INTO mq.queue (queue_name, owner,"
							  " visibility_timeout, max_attempts, retention,"
							  " backoff_base, backoff_max, unlogged, notify)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
							  " ON CONFLICT (queue_name) DO NOTHING",
							  v2 ? 12 : 9, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into the catalog of queues");
	created = (SPI_processed == 1);
	if (created)
		mq_create_tables(name, PG_GETARG_BOOL(6), PG_GETARG_INT32(2), v2,
						 call.nspid);
	else if (MqTopicLookup(&call, name) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("name \"%s\" is already taken", name),
				 errhint("Queues, streams and topics share one namespace.")));
	else
	{
		/*
		 * The name is taken.  That is fine for a queue the caller may manage
		 * (creating one's queue again is a no-op), but not for somebody
		 * else's: an application that creates its queue if missing would
		 * otherwise go on and use a queue another role owns.
		 */
		MqQueue    *queue = MqLookup(&call, name, true);

		/* a stream of that name: 42710 */
		if (queue != NULL && queue->kind != MQ_KIND_QUEUE)
			MqCheckExisting(&call, name, MQ_KIND_QUEUE);
		if (queue == NULL || !MqHasPrivilege(&call, queue, MQ_PRIV_MANAGE))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("queue \"%s\" already exists and belongs to another role", name),
					 errhint("Choose another name, or ask the owner of the queue for the manage privilege.")));
	}

	MqEnd(&call);
	PG_RETURN_BOOL(created);
}

/*
 * The qualified name of a queue's index of exhausted messages: its 0.2 name,
 * or for a queue created by 0.1 in a database not updated yet, the name 0.1
 * gave it, if that is an index of the queue's live table.
 */
static const char *
mq_exhausted_index(MqQueue *queue, Oid nspid)
{
	char	   *old = psprintf("q_%s_exhausted", queue->name);
	Oid			indexid;

	if (!OidIsValid(get_relname_relid(psprintf("q_%s$exhausted", queue->name), nspid)) &&
		OidIsValid(indexid = get_relname_relid(old, nspid)) &&
		get_rel_relkind(indexid) == RELKIND_INDEX &&
		IndexGetRelation(indexid, false) == queue->relid)
		return quote_qualified_identifier(MQ_SCHEMA, old);
	return MqObjectName('q', queue->name, "exhausted", true);
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
	Datum		values[12];
	char		nulls[12];
	Oid			argtypes[12] = {TEXTOID, INTERVALOID, INT4OID, INTERVALOID,
		INTERVALOID, INTERVALOID, BOOLOID, BOOLOID, BOOLOID,
	INTERVALOID, BOOLOID, INT4OID};
	int			i;
	bool		unlogged;
	/* 0.1's mq_alter had 8 arguments */
	int			nargs = PG_NARGS() > 8 ? 11 : 8;

	if (!PG_ARGISNULL(1))
		MqIntervalUsecs(PG_GETARG_DATUM(1), "visibility_timeout", false);
	if (!PG_ARGISNULL(2))
		MqCheckMaxAttempts(PG_GETARG_INT32(2));
	if (nargs > 8 && !PG_ARGISNULL(8))
		MqIntervalUsecs(PG_GETARG_DATUM(8), "dedup_window", true);
	if (nargs > 8 && !PG_ARGISNULL(10))
		MqCheckRateLimit(PG_GETARG_INT32(10));

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
	{
		MqOwnerSettings(&call);
		MqWaitInterrupt(queue);
	}

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
	for (i = 9; i <= 11; i++)
	{
		bool		isnull = (nargs <= 8 || PG_ARGISNULL(i - 1));

		values[i] = isnull ? (Datum) 0 : PG_GETARG_DATUM(i - 1);
		nulls[i] = isnull ? 'n' : ' ';
	}

	if (SPI_execute_with_args(MqCatalogV2(call.nspid) ?
							  "UPDATE mq.queue SET"
							  " visibility_timeout = COALESCE($2, visibility_timeout),"
							  " max_attempts = COALESCE($3, max_attempts),"
							  " retention = CASE WHEN $8 THEN $4 ELSE retention END,"
							  " backoff_base = COALESCE($5, backoff_base),"
							  " backoff_max = COALESCE($6, backoff_max),"
							  " unlogged = COALESCE($7, unlogged),"
							  " notify = COALESCE($9, notify),"
							  " dedup_window = COALESCE($10, dedup_window),"
							  " paused = COALESCE($11, paused),"
							  " rate_limit = COALESCE($12, rate_limit)"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1" :
							  "UPDATE mq.queue SET"
							  " visibility_timeout = COALESCE($2, visibility_timeout),"
							  " max_attempts = COALESCE($3, max_attempts),"
							  " retention = CASE WHEN $8 THEN $4 ELSE retention END,"
							  " backoff_base = COALESCE($5, backoff_base),"
							  " backoff_max = COALESCE($6, backoff_max),"
							  " unlogged = COALESCE($7, unlogged),"
							  " notify = COALESCE($9, notify)"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
							  nargs > 8 ? 12 : 9, argtypes, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the catalog of queues");

	if (unlogged != queue->unlogged)
	{
		const char *set = unlogged ? "UNLOGGED" : "LOGGED";

		if (SPI_execute(psprintf("ALTER TABLE %s SET %s; ALTER TABLE %s SET %s;"
								 " ALTER TABLE %s SET %s",
								 MqTableName('q', name), set,
								 MqTableName('d', name), set,
								 MqTableName('a', name), set),
						false, 0) != SPI_OK_UTILITY ||
			(queue->v2 &&
			 SPI_execute(psprintf("ALTER TABLE %s SET %s; ALTER TABLE %s SET %s;"
								  " ALTER TABLE %s SET %s",
								  MqTableName('p', name), set,
								  MqTableName('g', name), set,
								  MqTableName('k', name), set),
						 false, 0) != SPI_OK_UTILITY))
			elog(ERROR, "could not alter the tables of queue \"%s\"", name);
	}

	/* the partial index of exhausted messages names max_attempts */
	if (!PG_ARGISNULL(2) && PG_GETARG_INT32(2) != queue->max_attempts)
	{
		if (SPI_execute(psprintf("DROP INDEX %s",
								 mq_exhausted_index(queue, call.nspid)),
						false, 0) != SPI_OK_UTILITY ||
			SPI_execute(MqExhaustedIndexSql(name, PG_GETARG_INT32(2)),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not rebuild the index of exhausted messages of queue \"%s\"",
				 name);
	}

	/* every backend (this one included) rereads the options */
	CacheInvalidateRelcacheByRelid(queue->relid);
	/* the worker too: fewer attempts or a new retention may make work */
	MqDueTouch(queue);

	/*
	 * Waiting readers reread them too: more attempts may make messages
	 * readable, and so may a resume or a higher rate limit.
	 */
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

	MqBegin(&call, NULL, 0, true);
	queue = MqLookup(&call, name, true);
	if (queue == NULL)
	{
		dropped = MqTopicDrop(&call, name);
		if (dropped)
			MqStatsTopicDropped(name);
	}
	else if (queue->kind == MQ_KIND_STREAM)
	{
		/* streams (stream.c) */
		MqCheckPrivilege(&call, queue, MQ_PRIV_MANAGE);
		dropped = MqStreamDrop(&call, queue);
		if (dropped)
			MqStatsDropped(queue);
	}
	else
	{
		MqCheckPrivilege(&call, queue, MQ_PRIV_MANAGE);
		if (SPI_execute_with_args("DELETE FROM mq.queue"
								  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
								  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete from the catalog of queues");
		/* a concurrent mq_drop that committed first leaves nothing to drop */
		dropped = (SPI_processed == 1);
		/* DROP TABLE waits for waiting reads and statuses unless they end now */
		if (dropped)
		{
			MqOwnerSettings(&call);
			MqWaitInterrupt(queue);
			MqStatsDropped(queue);
		}
		if (dropped &&
			SPI_execute_with_args("DELETE FROM mq.grant"
								  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
								  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete the grants of queue \"%s\"", name);
		/* 0.2: and its schedules */
		if (dropped && OidIsValid(get_relname_relid("schedule", call.nspid)) &&
			SPI_execute_with_args("DELETE FROM mq.schedule"
								  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
								  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete the schedules of queue \"%s\"", name);
		if (dropped &&
			SPI_execute(queue->v2 ?
						psprintf("DROP TABLE %s, %s, %s, %s, %s, %s",
								 MqTableName('q', name), MqTableName('d', name),
								 MqTableName('a', name), MqTableName('p', name),
								 MqTableName('g', name), MqTableName('k', name)) :
						psprintf("DROP TABLE %s, %s, %s",
								 MqTableName('q', name), MqTableName('d', name),
								 MqTableName('a', name)),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not drop the tables of queue \"%s\"", name);
		/* its bindings went with the catalog row */
		if (dropped)
			MqTopicsChanged(call.nspid);
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
	/* 0.2 also purges the messages waiting in groups, and counts them */
	if (queue->v2)
	{
		bool		isnull;

		removed = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc,
													   1, &isnull));
	}
	/* producers waiting in mq_status on a purged message stop waiting */
	if (removed > 0)
		MqWakeupRegister(queue, MQ_WAKE_STATUS_ON_COMMIT);
	MqEnd(&call);
	PG_RETURN_INT64((int64) removed);
}
