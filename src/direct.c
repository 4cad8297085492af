/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  The plain send's INSERT into a queue's live table, the plain read's
 *	  and pop's UPDATE and DELETE of what they take, and the plain ack's
 *	  DELETE, through the table and index access methods, without SPI.
 *
 * mq_send and mq_send_batch of messages without a group or a dedup key
 * (send.c) insert their rows here; mq_read and mq_pop of a queue without
 * priorities (read.c; a pop only without retention) take theirs here, and
 * the scan floor's search (floor.c) is done here too; mq_ack, both forms,
 * of a queue without retention (ack.c) deletes its rows here.  They would
 * otherwise run the statements of stmt.c through SPI, which costs a second
 * executor start-up, a plan-cache check and a result copy per call.  Rows
 * and index entries are written by the very functions the executor calls
 * for those statements, in the same order, so the heap, the indexes, TOAST
 * and the WAL (which physical replication replays and logical decoding
 * reads as an ordinary insert, update or delete) are what the statements
 * would have left.  The read's scan, tuple locks and rechecks are
 * described at MqDirectRead, the ack's waits and rechecks at
 * mq_direct_delete.
 *
 * What is done, and the PostgreSQL invariants it rests on (PostgreSQL 15,
 * the only version mq builds for; src/backend/executor/execReplication.c,
 * execIndexing.c, nodeModifyTable.c, access/heap/heapam.c,
 * heapam_handler.c, heaptoast.c):
 *
 * - A row is stored with ExecSimpleRelationInsert(), the executor's
 *   insert without a plan that logical replication's apply worker uses for
 *   every replicated INSERT; the rows of a batch, as COPY FROM stores the
 *   rows it buffers (copyfrom.c, CopyMultiInsertBufferFlush): constraints
 *   checked row by row, then one table_multi_insert() (heap_multi_insert:
 *   each row toasted as heap_insert would, one WAL record per heap page,
 *   which logical decoding reads as one insert per row), then the index
 *   entries of each row with ExecInsertIndexTuples().  It checks the table's constraints
 *   (ExecConstraints: NOT NULL and any CHECK constraint, with the
 *   executor's errors), computes stored generated columns, inserts with
 *   simple_table_tuple_insert() (table_tuple_insert() with
 *   GetCurrentCommandId(true), so the command is marked as having written,
 *   as ExecInsert does with es_output_cid), inserts the index entries with
 *   ExecInsertIndexTuples() (FormIndexDatum, partial-index predicates and
 *   index_insert with UNIQUE_CHECK_YES for unique indexes, as the INSERT's
 *   ExecInsert does) and fires row triggers.  CheckCmdReplicaIdentity() has
 *   nothing to check for an INSERT.
 * - heap_insert() (through heapam_tuple_insert) toasts the tuple when it has
 *   external values or exceeds TOAST_TUPLE_THRESHOLD
 *   (heap_prepare_insert -> heap_toast_insert_or_update), compressing large
 *   bodies and moving them to the TOAST table exactly as for the executor's
 *   INSERT; it writes XLOG_HEAP_INSERT only when RelationNeedsWAL() (so an
 *   unlogged queue writes none), with the new tuple in the record when the
 *   table is logically logged, and sets the visibility-map and
 *   predicate-lock (SSI: CheckForSerializableConflictIn) state itself.
 * - Values the INSERT takes from the table's defaults are taken from the
 *   same defaults: msg_id from its identity sequence with
 *   nextval_internal(seq, false), which is what the executor's
 *   NextValueExpr calls; every other column the send does not set gets its
 *   default when that is a constant (attempt and priority: 0), evaluated
 *   once per relcache entry, or NULL when it has none.  A table with any
 *   other default, with triggers, row security, or that is a partition
 *   makes MqDirectInsert() return false: the caller then runs the SQL
 *   INSERT.  mq's tables have none of these (queue.c creates them); the
 *   check is for a table someone altered by hand.
 * - A read-only transaction (and a hot standby, where every transaction
 *   is) refuses the write with the executor's error (25006, "cannot
 *   execute INSERT in a read-only transaction"), as ExecCheckXactReadOnly
 *   does before a plan that writes a table that is not temporary; so does
 *   parallel mode.
 * - The command counter is advanced first, as SPI does before each
 *   statement it runs: the row is then written by a command of its own,
 *   invisible to the caller's running statement (its snapshot's curcid is
 *   older) and visible to the next one, and the relcache entry reflects
 *   what this transaction did before (an index MqPriorityEnsure() just
 *   created is in RelationGetIndexList(), so it gets its entry).
 * - Locks: the table is opened with RowExclusiveLock and ExecOpenIndices()
 *   opens its indexes with RowExclusiveLock, the locks the INSERT takes
 *   (the ack opens the table and its primary key with the same lock, as the
 *   DELETE's index scan does, and takes the row's tuple lock in
 *   heap_delete, waiting for its holder as the DELETE does); they are held
 *   to the end of the transaction.  Opening the table with a
 *   lock processes pending invalidations (LockRelationOid ->
 *   AcceptInvalidationMessages), so the relcache entry, the tuple
 *   descriptor and the index list used for the insert are current.
 *
 * What this file caches across calls: per live table, the attribute
 * numbers of its columns, the identity sequence, the constant defaults,
 * the OIDs of the primary key and of the index on (visible_at, msg_id), and
 * the compiled predicates of partial indexes (mq_direct_open_indices).
 * They derive from the table's relcache entry, and an entry is dropped by a
 * relcache invalidation of its table (or of all relations), as ALTER TABLE,
 * CREATE or DROP INDEX, DROP or a relcache reset sends; it is looked up
 * only after the table is opened with its lock, so it is never used stale.
 * Nothing of the executor (EState, ResultRelInfo, slots, scans) outlives a
 * call, a call works on its own copy of the entry, and the predicates of a
 * dropped entry are freed at the end of the transaction, when no call can
 * still be evaluating them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_index.h"
#include "catalog/pg_am_d.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "direct.h"

/* the columns of a read's rows (0.2's mq_message) */
#define MQ_DIRECT_RESULT_COLS 10

/* rows a batch send inserts with one table_multi_insert (COPY's 1000) */
#define MQ_DIRECT_MULTI 1000

/* how many partial indexes of a table get their predicate compiled once */
#define MQ_DIRECT_PREDS 4

/* What a live table's inserts, reads and acks need, per table. */
typedef struct MqDirectTable
{
	Oid			relid;			/* hash key */
	bool		usable;			/* false: the caller runs the SQL INSERT */
	bool		readable;		/* false: the caller runs the SQL read */
	bool		ackable;		/* false: the caller runs the SQL ack */
	int			natts;
	Oid			seqid;			/* msg_id's identity sequence */
	Oid			readidx;		/* the index on (visible_at, msg_id) */
	Oid			prioidx;		/* the index on (priority DESC, visible_at,
								 * msg_id), or InvalidOid */
	Oid			pkey;			/* the primary key, on msg_id */
	AttrNumber	msg_id;
	AttrNumber	visible_at;
	AttrNumber	enqueued_at;
	AttrNumber	body;
	AttrNumber	headers;
	AttrNumber	priority;		/* 0: a table of mq 0.1 */
	AttrNumber	attempt;
	AttrNumber	lease_expires_at;
	AttrNumber	group_id;		/* 0: a table of mq 0.1 */
	AttrNumber	topic;			/* 0: a table of mq 0.1 */
	AttrNumber	routing_key;	/* 0: a table of mq 0.1 */
	AttrNumber	last_error;
	AttrNumber	partition;		/* a stream's record: its partition */
	AttrNumber	key;			/* ... its key */
	AttrNumber	appended_at;	/* ... its appended_at */
	AttrNumber	n;				/* a group's row in g_: its count */
	Oid			groupidx;		/* g_ and p_: the btree led by group_id */
	bool		appendable;		/* a stream's segment: appends go direct */
	Datum	   *defvalues;		/* per attribute: constant default or 0 */
	bool	   *defnulls;
	/* the partial indexes' predicates, compiled once (mq_direct_predicates) */
	MemoryContext predcxt;
	int			npreds;
	Oid			predidx[MQ_DIRECT_PREDS];
	ExprState  *predstate[MQ_DIRECT_PREDS];
	ExprState  *partcheck;		/* a partition's constraint, compiled once */
} MqDirectTable;

static HTAB *direct_tables = NULL;
static MemoryContext direct_cxt = NULL;

/*
 * The predicate contexts of forgotten entries: a call that began before the
 * invalidation may still be evaluating them, so they are deleted at the end
 * of the transaction, when no call is running.
 */
static List *direct_graveyard = NIL;

static MqDirectTable *mq_direct_table(Relation rel);

static void
mq_direct_forget(MqDirectTable *t)
{
	if (t->defvalues != NULL)
		pfree(t->defvalues);
	if (t->defnulls != NULL)
		pfree(t->defnulls);
	if (t->predcxt != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(direct_cxt);

		direct_graveyard = lappend(direct_graveyard, t->predcxt);
		MemoryContextSwitchTo(old);
	}
	hash_search(direct_tables, &t->relid, HASH_REMOVE, NULL);
}

static void
mq_direct_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (direct_graveyard == NIL ||
		(event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		 event != XACT_EVENT_PREPARE))
		return;
	foreach(lc, direct_graveyard)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(direct_graveyard);
	direct_graveyard = NIL;
}

/* The context of entry t's compiled predicates, made on first use. */
static MemoryContext
mq_direct_predcxt(MqDirectTable *t)
{
	if (t->predcxt == NULL)
		t->predcxt = AllocSetContextCreate(direct_cxt, "mq direct predicates",
										   ALLOCSET_SMALL_SIZES);
	return t->predcxt;
}

/*
 * Open the indexes of the table in rri, as ExecOpenIndices does, and give
 * each partial index its predicate compiled once per relcache entry of the
 * table, rather than once per call (ExecInsertIndexTuples compiles it on
 * first use when ii_PredicateState is NULL, as it would be).  A compiled
 * predicate without a parent plan node (ExecInitQual(.., NULL), as
 * ExecPrepareQual builds it) depends on nothing of the executor state it is
 * evaluated in: it is evaluated in the per-tuple context given to
 * ExecQual, as the typcache's compiled domain constraints are in every
 * query.  An index is a new relcache entry of the table when it is created
 * or dropped, so a predicate is never used for another index than its own.
 * A partition's constraint (a stream's segment) is compiled once the same
 * way, for ExecPartitionCheck; ATTACH and DETACH PARTITION send the
 * partition's relcache invalidation.
 */
static void
mq_direct_open_indices(Relation rel, ResultRelInfo *rri)
{
	MqDirectTable *t;
	List	   *partqual = NIL;
	int			i;

	ExecOpenIndices(rri, false);
	/* (this may lock the parent, which processes invalidations) */
	if (rel->rd_rel->relispartition)
		partqual = RelationGetPartitionQual(rel);
	/* the entry as it is now: opening the indexes processes invalidations */
	t = mq_direct_table(rel);
	if (rel->rd_rel->relispartition)
	{
		if (t->partcheck == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(mq_direct_predcxt(t));

			t->partcheck = ExecInitCheck((List *) expression_planner((Expr *) copyObject(partqual)),
										 NULL);
			MemoryContextSwitchTo(old);
		}
		rri->ri_PartitionCheckExpr = t->partcheck;
	}
	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		Oid			indexoid = RelationGetRelid(rri->ri_IndexRelationDescs[i]);
		int			j;

		if (ii->ii_Predicate == NIL || ii->ii_PredicateState != NULL)
			continue;
		for (j = 0; j < t->npreds && t->predidx[j] != indexoid; j++)
			;
		if (j == t->npreds)
		{
			MemoryContext old;

			if (t->npreds == MQ_DIRECT_PREDS)
				continue;
			old = MemoryContextSwitchTo(mq_direct_predcxt(t));
			t->predstate[j] = ExecInitQual((List *) expression_planner((Expr *) copyObject(ii->ii_Predicate)),
										   NULL);
			MemoryContextSwitchTo(old);
			t->predidx[j] = indexoid;
			t->npreds++;
		}
		ii->ii_PredicateState = t->predstate[j];
	}
}

static void
mq_direct_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	MqDirectTable *t;

	if (direct_tables == NULL)
		return;
	if (OidIsValid(relid))
	{
		t = hash_search(direct_tables, &relid, HASH_FIND, NULL);
		if (t != NULL)
			mq_direct_forget(t);
		return;
	}
	/* removing the entry just returned is allowed during a scan */
	hash_seq_init(&status, direct_tables);
	while ((t = hash_seq_search(&status)) != NULL)
		mq_direct_forget(t);
}

/*
 * Give the call a command of its own and push a snapshot for it, as SPI
 * does for each statement it runs (a new snapshot in READ COMMITTED, the
 * transaction's in REPEATABLE READ and SERIALIZABLE, with the new command
 * id); returns it, and sets *cid.  The caller pops it.
 */
static Snapshot
mq_direct_command(CommandId *cid)
{
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	*cid = GetCurrentCommandId(true);
	return GetActiveSnapshot();
}

/*
 * Clear dst and give it the values of src (all of them extracted): the
 * row an update writes, before the caller changes what it changes and
 * stores it with ExecStoreVirtualTuple.
 */
static void
mq_direct_row_from(TupleTableSlot *dst, TupleTableSlot *src)
{
	int			natts = src->tts_tupleDescriptor->natts;

	slot_getallattrs(src);
	ExecClearTuple(dst);
	memcpy(dst->tts_values, src->tts_values, sizeof(Datum) * natts);
	memcpy(dst->tts_isnull, src->tts_isnull, sizeof(bool) * natts);
}

/* Does index idx of t's table have the columns and order of what arg asks? */
typedef bool (*MqDirectIndexMatch) (Relation idx, const MqDirectTable *t, int arg);

/*
 * The first valid btree of rel, without predicate or expression, that
 * match accepts; or InvalidOid.
 */
static Oid
mq_direct_find_index(Relation rel, const MqDirectTable *t, MqDirectIndexMatch match,
					 int arg)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), RowExclusiveLock);

		if (idx->rd_rel->relam == BTREE_AM_OID && idx->rd_index->indisvalid &&
			heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL) &&
			match(idx, t, arg))
			found = RelationGetRelid(idx);
		index_close(idx, NoLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * The index reads walk, made by queue.c as (visible_at, msg_id), or with
 * prio the one of a queue with priorities, made by order.c as (priority
 * DESC, visible_at, msg_id): exactly those columns, in that order, with
 * their default operator classes.
 */
static bool
mq_direct_read_index(Relation idx, const MqDirectTable *t, int prio)
{
	Form_pg_index form = idx->rd_index;
	int			k = prio ? 1 : 0;	/* where visible_at is */

	return form->indnatts == k + 2 && form->indnkeyatts == k + 2 &&
		(!prio || (form->indkey.values[0] == t->priority &&
				   idx->rd_opcintype[0] == INT4OID &&
				   (idx->rd_indoption[0] & INDOPTION_DESC) != 0 &&
				   index_getprocid(idx, 1, BTORDER_PROC) == F_BTINT4CMP)) &&
		form->indkey.values[k] == t->visible_at &&
		form->indkey.values[k + 1] == t->msg_id &&
		idx->rd_opcintype[k] == TIMESTAMPTZOID &&
		idx->rd_opcintype[k + 1] == INT8OID &&
		idx->rd_indoption[k] == 0 && idx->rd_indoption[k + 1] == 0 &&
		index_getprocid(idx, k + 1, BTORDER_PROC) == F_TIMESTAMPTZ_CMP &&
		index_getprocid(idx, k + 2, BTORDER_PROC) == F_BTINT8CMP;
}

/*
 * The index of a queue's g_ (nkeys 1: its primary key, on group_id) or p_
 * (nkeys 2: on (group_id, msg_id)).
 */
static bool
mq_direct_group_index(Relation idx, const MqDirectTable *t, int nkeys)
{
	Form_pg_index form = idx->rd_index;

	return form->indkey.values[0] == t->group_id && form->indnkeyatts == nkeys &&
		(nkeys == 1 || form->indkey.values[1] == t->msg_id) &&
		idx->rd_opcintype[0] == TEXTOID;
}

/* The primary key of the live table, a btree on msg_id; or InvalidOid. */
static Oid
mq_direct_pkey(Relation rel, MqDirectTable *t)
{
	Oid			pkey = RelationGetPrimaryKeyIndex(rel);
	Relation	idx;
	bool		ok;

	if (!OidIsValid(pkey))
		return InvalidOid;
	idx = index_open(pkey, RowExclusiveLock);
	ok = idx->rd_index->indnatts == 1 &&
		idx->rd_index->indkey.values[0] == t->msg_id &&
		idx->rd_rel->relam == BTREE_AM_OID &&
		idx->rd_opcintype[0] == INT8OID;
	index_close(idx, NoLock);
	return ok ? pkey : InvalidOid;
}

/*
 * The columns an entry knows by name and type, but msg_id; sent: every
 * send (and append) sets it, so its default is never taken.
 */
static const struct
{
	const char *name;
	Oid			type;
	size_t		offset;
	bool		sent;
}			mq_direct_columns[] =
{
	{"visible_at", TIMESTAMPTZOID, offsetof(MqDirectTable, visible_at), true},
	{"enqueued_at", TIMESTAMPTZOID, offsetof(MqDirectTable, enqueued_at), true},
	{"body", JSONBOID, offsetof(MqDirectTable, body), true},
	{"headers", JSONBOID, offsetof(MqDirectTable, headers), true},
	{"priority", INT4OID, offsetof(MqDirectTable, priority), false},
	{"attempt", INT4OID, offsetof(MqDirectTable, attempt), false},
	{"lease_expires_at", TIMESTAMPTZOID, offsetof(MqDirectTable, lease_expires_at), false},
	{"group_id", TEXTOID, offsetof(MqDirectTable, group_id), false},
	{"topic", TEXTOID, offsetof(MqDirectTable, topic), false},
	{"routing_key", TEXTOID, offsetof(MqDirectTable, routing_key), false},
	{"last_error", TEXTOID, offsetof(MqDirectTable, last_error), false},
	{"partition", INT4OID, offsetof(MqDirectTable, partition), false},
	{"key", TEXTOID, offsetof(MqDirectTable, key), false},
	{"appended_at", TIMESTAMPTZOID, offsetof(MqDirectTable, appended_at), false},
	{"n", INT8OID, offsetof(MqDirectTable, n), false},
};

/* Fill *t, the entry of open table rel, from its relcache entry. */
static void
mq_direct_build(Relation rel, MqDirectTable *t)
{
	Oid			relid = RelationGetRelid(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	bool		insertable = true;
	bool		constdefs = true;
	int			i;
	int			j;
	MemoryContext old;

	memset(t, 0, sizeof(MqDirectTable));
	t->relid = relid;
	t->natts = desc->natts;
	old = MemoryContextSwitchTo(direct_cxt);
	t->defvalues = palloc0(sizeof(Datum) * desc->natts);
	t->defnulls = palloc(sizeof(bool) * desc->natts);
	MemoryContextSwitchTo(old);
	memset(t->defnulls, true, sizeof(bool) * desc->natts);

	/* what only the SQL statements handle (of a partition, only appends) */
	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->trigdesc != NULL || rel->rd_rel->relrowsecurity)
		return;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AttrNumber	attnum = att->attnum;
		const char *name = NameStr(att->attname);
		Oid			type = att->atttypid;
		Node	   *def;

		if (att->attisdropped)
			continue;
		if (strcmp(name, "msg_id") == 0)
		{
			if (type != INT8OID)
				return;
			t->msg_id = attnum;
			insertable &= att->attidentity != 0;
			continue;
		}
		for (j = 0; j < lengthof(mq_direct_columns); j++)
		{
			if (type == mq_direct_columns[j].type &&
				strcmp(name, mq_direct_columns[j].name) == 0)
			{
				*(AttrNumber *) ((char *) t + mq_direct_columns[j].offset) = attnum;
				break;
			}
		}
		/* the columns every send sets have no default to take */
		if (j < lengthof(mq_direct_columns) && mq_direct_columns[j].sent)
			continue;

		/* a column the send may leave to its default: a constant or none */
		if (att->attidentity || att->attgenerated)
		{
			constdefs = false;
			continue;
		}
		def = build_column_default(rel, attnum);
		if (def != NULL)
		{
			def = (Node *) expression_planner((Expr *) def);
			if (!IsA(def, Const))
			{
				constdefs = false;
				continue;
			}
			t->defnulls[i] = ((Const *) def)->constisnull;
			if (!t->defnulls[i])
			{
				old = MemoryContextSwitchTo(direct_cxt);
				t->defvalues[i] = datumCopy(((Const *) def)->constvalue,
											att->attbyval, att->attlen);
				MemoryContextSwitchTo(old);
			}
		}
	}
	/* a segment of a stream's records (stream.c): no default but constants */
	if (rel->rd_rel->relispartition)
	{
		t->appendable = constdefs && t->msg_id != 0 && t->partition != 0 &&
			t->key != 0 && t->appended_at != 0 && t->body != 0 &&
			t->headers != 0 && t->topic != 0 && t->routing_key != 0;
		return;
	}
	/* a queue's g_ (group_id, n) or p_ (parked messages) */
	if (t->group_id != 0 && t->lease_expires_at == 0)
		t->groupidx = mq_direct_find_index(rel, t, mq_direct_group_index,
										   t->n != 0 ? 1 : 2);
	if (t->msg_id == 0 || t->visible_at == 0 || t->enqueued_at == 0 ||
		t->body == 0 || t->headers == 0)
		return;
	if (insertable && constdefs)
	{
		t->seqid = getIdentitySequence(relid, t->msg_id, true);
		t->usable = OidIsValid(t->seqid);
	}
	if (t->attempt != 0)
	{
		t->pkey = mq_direct_pkey(rel, t);
		t->ackable = OidIsValid(t->pkey);
	}
	if (t->attempt != 0 && t->lease_expires_at != 0 && t->group_id != 0 &&
		t->priority != 0 && t->topic != 0 && t->routing_key != 0)
	{
		t->readidx = mq_direct_find_index(rel, t, mq_direct_read_index, false);
		t->prioidx = mq_direct_find_index(rel, t, mq_direct_read_index, true);
		t->readable = OidIsValid(t->readidx);
	}
	return;
}

/* The entry of an open live table, built from its relcache entry. */
static MqDirectTable *
mq_direct_table(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	MqDirectTable built;
	MqDirectTable *t;
	bool		found;

	if (direct_tables == NULL)
	{
		HASHCTL		ctl;

		direct_cxt = AllocSetContextCreate(CacheMemoryContext, "mq direct inserts",
										   ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MqDirectTable);
		ctl.hcxt = direct_cxt;
		direct_tables = hash_create("mq direct inserts", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(mq_direct_relcache_callback, (Datum) 0);
		RegisterXactCallback(mq_direct_xact_callback, NULL);
	}
	t = hash_search(direct_tables, &relid, HASH_FIND, NULL);
	if (t != NULL)
		return t;

	/*
	 * Built aside and entered when done: building reads the catalogs and
	 * opens indexes, which may process invalidations, and one of this table
	 * must not find a half-built entry to drop.  (What it may change, under
	 * our lock on the table, is at most its list of indexes, as CREATE
	 * INDEX CONCURRENTLY does; an index chosen here is still one of its
	 * indexes, and the invalidation that comes with the change's end drops
	 * the entry.)
	 */
	mq_direct_build(rel, &built);
	t = hash_search(direct_tables, &relid, HASH_ENTER, &found);
	Assert(!found);
	*t = built;
	return t;
}

/*
 * Fills slot (cleared, its values set to the table's constant defaults)
 * with the values of row k of an insert.
 */
typedef void (*MqDirectFill) (TupleTableSlot *slot, const MqDirectTable *t, int k,
							  const void *arg);

/*
 * Insert nrows rows into rel (opened with RowExclusiveLock, t its entry's
 * copy), in order, each filled by fill: one with ExecSimpleRelationInsert,
 * several as COPY FROM stores the rows it buffers (see the file header).
 */
static void
mq_direct_insert_rows(Relation rel, const MqDirectTable *t, int nrows,
					  MqDirectFill fill, const void *arg)
{
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	int			nslots;
	int			start;
	int			i;

	estate = CreateExecutorState();
	estate->es_output_cid = GetCurrentCommandId(true);
	rri = makeNode(ResultRelInfo);
	/* no range table: ExecGetInsertedCols() then answers NULL, for errors */
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	mq_direct_open_indices(rel, rri);
	nslots = Min(nrows, MQ_DIRECT_MULTI);
	slots = palloc(sizeof(TupleTableSlot *) * nslots);
	for (i = 0; i < nslots; i++)
		slots[i] = table_slot_create(rel, NULL);

	for (start = 0; start < nrows; start += nslots)
	{
		int			n = Min(nslots, nrows - start);

		for (i = 0; i < n; i++)
		{
			ExecClearTuple(slots[i]);
			memcpy(slots[i]->tts_values, t->defvalues, sizeof(Datum) * t->natts);
			memcpy(slots[i]->tts_isnull, t->defnulls, sizeof(bool) * t->natts);
			fill(slots[i], t, start + i, arg);
			ExecStoreVirtualTuple(slots[i]);
		}
		if (n == 1)
			ExecSimpleRelationInsert(rri, estate, slots[0]);
		else
		{
			/* what COPY FROM does with the rows it buffers (copyfrom.c) */
			for (i = 0; i < n; i++)
			{
				if (rel->rd_att->constr != NULL)
					ExecConstraints(rri, slots[i], estate);
				if (rel->rd_rel->relispartition)
					ExecPartitionCheck(rri, slots[i], estate, true);
				ResetPerTupleExprContext(estate);
			}
			table_multi_insert(rel, slots, n, estate->es_output_cid, 0, NULL);
			for (i = 0; i < n; i++)
			{
				List	   *recheck;

				recheck = ExecInsertIndexTuples(rri, slots[i], estate, false, false,
												NULL, NIL);
				list_free(recheck);
				ResetPerTupleExprContext(estate);
			}
		}
		ResetPerTupleExprContext(estate);
	}

	for (i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
}

/*
 * A copy of entry t for one call: an invalidation that arrives while it
 * runs (a relcache reset, when a lock is taken) drops the cached entry, and
 * the table cannot change meanwhile under our lock.
 */
static void
mq_direct_copy(MqDirectTable *copy, const MqDirectTable *t, Relation rel)
{
	int			i;

	*copy = *t;
	copy->defvalues = palloc(sizeof(Datum) * t->natts);
	copy->defnulls = palloc(sizeof(bool) * t->natts);
	memcpy(copy->defnulls, t->defnulls, sizeof(bool) * t->natts);
	for (i = 0; i < t->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), i);

		copy->defvalues[i] = copy->defnulls[i] ? (Datum) 0 :
			datumCopy(t->defvalues[i], att->attbyval, att->attlen);
	}
}

/* Store value (or NULL) as attribute attno of a virtual slot being filled. */
static inline void
mq_direct_set(TupleTableSlot *slot, AttrNumber attno, Datum value, bool isnull)
{
	slot->tts_values[attno - 1] = isnull ? (Datum) 0 : value;
	slot->tts_isnull[attno - 1] = isnull;
}

/* A send's rows: what MqDirectInsert was given. */
typedef struct MqDirectSendRows
{
	const MqDirectSend *send;
	const Datum *bodies;
	int64	   *msg_ids;
} MqDirectSendRows;

static void
mq_direct_fill_send(TupleTableSlot *slot, const MqDirectTable *t, int k,
					const void *arg)
{
	const MqDirectSendRows *r = arg;
	const MqDirectSend *send = r->send;

	r->msg_ids[k] = nextval_internal(t->seqid, false);
	mq_direct_set(slot, t->msg_id, Int64GetDatum(r->msg_ids[k]), false);
	mq_direct_set(slot, t->visible_at, TimestampTzGetDatum(send->visible_at), false);
	mq_direct_set(slot, t->enqueued_at, TimestampTzGetDatum(send->enqueued_at), false);
	mq_direct_set(slot, t->body, r->bodies[k], false);
	mq_direct_set(slot, t->headers, send->headers, send->headers_null);
	if (t->priority != 0)
		mq_direct_set(slot, t->priority, Int32GetDatum(send->priority), false);
}

/*
 * Insert nbodies messages into the live table of queue, in order, as the
 * plain send's INSERT would, and return their ids in msg_ids.  Returns
 * false, having written nothing, if the table is not one this can write
 * (see the file header) or a priority is asked of a table without the
 * column; the caller then runs the SQL INSERT.  Call between MqBegin and
 * MqEnd (as the extension's owner); MqPriorityEnsure first for a priority.
 */
bool
MqDirectInsert(MqQueue *queue, const MqDirectSend *send, const Datum *bodies,
			   int nbodies, int64 *msg_ids)
{
	Relation	rel;
	MqDirectTable *t;
	MqDirectTable tab;
	MqDirectSendRows rows = {send, bodies, msg_ids};

	/* the executor's checks of a write (ExecCheckXactReadOnly) */
	PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");
	/* a command of its own, as SPI would run the INSERT */
	CommandCounterIncrement();
	rel = table_open(queue->relid, RowExclusiveLock);
	t = mq_direct_table(rel);
	if (!t->usable || t->natts != RelationGetDescr(rel)->natts ||
		(send->priority != 0 && t->priority == 0))
	{
		table_close(rel, NoLock);
		return false;
	}
	mq_direct_copy(&tab, t, rel);
	mq_direct_insert_rows(rel, &tab, nbodies, mq_direct_fill_send, &rows);
	table_close(rel, NoLock);
	return true;
}

/* An append's rows: what MqDirectAppend was given. */
typedef struct MqDirectAppendRows
{
	const MqDirectRecord *rec;
	const int64 *msg_ids;
	const int32 *partitions;
	const Datum *keys;
	const bool *keynulls;
	const Datum *bodies;
} MqDirectAppendRows;

static void
mq_direct_fill_append(TupleTableSlot *slot, const MqDirectTable *t, int k,
					  const void *arg)
{
	const MqDirectAppendRows *r = arg;
	const MqDirectRecord *rec = r->rec;

	mq_direct_set(slot, t->msg_id, Int64GetDatum(r->msg_ids[k]), false);
	mq_direct_set(slot, t->partition, Int32GetDatum(r->partitions[k]), false);
	mq_direct_set(slot, t->key, r->keys[k], r->keynulls[k]);
	mq_direct_set(slot, t->appended_at, TimestampTzGetDatum(rec->appended_at), false);
	mq_direct_set(slot, t->body, r->bodies[k], false);
	mq_direct_set(slot, t->headers, rec->headers, rec->headers_null);
	mq_direct_set(slot, t->topic, rec->topic, rec->topic_null);
	mq_direct_set(slot, t->routing_key, rec->routing_key, rec->routing_key_null);
}

/*
 * Insert n records of a stream into its segment segrelid (a partition of
 * the stream's table of records, which the msg_ids must all belong to), as
 * the append's INSERT into the segment would: msg_ids (already taken from
 * the stream's sequence), partitions, keys (keynulls[k]: none) and bodies,
 * per record; appended_at, headers, topic and routing_key from rec, for
 * all.  The partition constraint is checked as the INSERT checks it
 * (ExecPartitionCheck).  Returns false, having written nothing, if the
 * segment is not one this can write; the caller then runs the SQL INSERT.
 */
bool
MqDirectAppend(Oid segrelid, const MqDirectRecord *rec, int n, const int64 *msg_ids,
			   const int32 *partitions, const Datum *keys, const bool *keynulls,
			   const Datum *bodies)
{
	Relation	rel;
	MqDirectTable *t;
	MqDirectTable tab;
	MqDirectAppendRows rows = {rec, msg_ids, partitions, keys, keynulls, bodies};

	PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");
	CommandCounterIncrement();
	rel = table_open(segrelid, RowExclusiveLock);
	t = mq_direct_table(rel);
	if (!t->appendable || t->natts != RelationGetDescr(rel)->natts)
	{
		table_close(rel, NoLock);
		return false;
	}
	mq_direct_copy(&tab, t, rel);
	mq_direct_insert_rows(rel, &tab, n, mq_direct_fill_append, &rows);
	table_close(rel, NoLock);
	return true;
}

/*
 * Does the row in slot pass the ack's condition: on attempt when fenced;
 * unless any_group, in no group (the plain ack's; the group's ack takes any
 * message)?
 */
static bool
mq_direct_ack_matches(TupleTableSlot *slot, const MqDirectTable *t, bool fenced,
					  int32 attempt, bool any_group)
{
	bool		isnull;

	if (fenced &&
		DatumGetInt32(slot_getattr(slot, t->attempt, &isnull)) != attempt)
		return false;
	if (t->group_id != 0 && !any_group)
	{
		slot_getattr(slot, t->group_id, &isnull);
		if (!isnull)
			return false;
	}
	return true;
}

/*
 * Delete the row of msg_id that scan (on the primary key of rel) finds, if
 * it passes the ack's condition, as the DELETE's executor would (see
 * mq_direct_delete); true if deleted, with the row in slot.
 */
static bool
mq_direct_delete_row(Relation rel, IndexScanDesc scan, TupleTableSlot *slot,
					 Snapshot snapshot, CommandId cid, const MqDirectTable *t,
					 int64 msg_id, bool fenced, int32 attempt, bool any_group)
{
	ScanKeyData key;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(msg_id));
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot) &&
		mq_direct_ack_matches(slot, t, fenced, attempt, any_group);

	while (found)
	{
		ItemPointerData tid = slot->tts_tid;
		TM_FailureData tmfd;
		TM_Result	result;

		result = table_tuple_delete(rel, &tid, cid, snapshot, InvalidSnapshot,
									true, &tmfd, false);
		if (result == TM_Ok)
			return true;
		switch (result)
		{
			case TM_SelfModified:
				/* deleted by this command already: ExecDelete skips it too */
				if (tmfd.cmax != cid)
					elog(ERROR, "message %lld modified by a later command",
						 (long long) msg_id);
				found = false;
				break;
			case TM_Updated:
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent update")));
				/* READ COMMITTED: the newest version, locked, if it still matches */
				result = table_tuple_lock(rel, &tid, snapshot, slot, cid,
										  LockTupleExclusive, LockWaitBlock,
										  TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
				if (result == TM_Ok)
					found = mq_direct_ack_matches(slot, t, fenced, attempt, any_group);
				else if (result == TM_Deleted || result == TM_SelfModified)
					found = false;
				else
					elog(ERROR, "unexpected table_tuple_lock status: %u", result);
				break;
			case TM_Deleted:
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent delete")));
				found = false;
				break;
			default:
				elog(ERROR, "unrecognized table_tuple_delete status: %u", result);
		}
	}
	return false;
}

/* Count the row in slot, just deleted from rel, as acked. */
static void
mq_direct_count_ack(MqQueue *queue, Relation rel, TupleTableSlot *slot,
					const MqDirectTable *t)
{
	SPITupleTable rows;
	HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, NULL);

	/* the statistics read enqueued_at from the deleted row */
	memset(&rows, 0, sizeof(rows));
	rows.tupdesc = RelationGetDescr(rel);
	rows.vals = &tup;
	MqStatsAcked(queue, &rows, 1, t->enqueued_at);
}

/*
 * The plain ack's DELETE (stmt.c, MQ_STMT_ACK and MQ_STMT_ACK_IDS): delete
 * the live rows of the n msg_ids (distinct, ascending), each if it is on
 * attempt (when fenced) and, on the tables of 0.2, in no group; count them
 * in the statistics.  Puts the ids deleted in acked_ids, in order, and
 * returns their number; returns -1, having done nothing, when the SQL
 * DELETE must do it (a table this cannot write, see the file header).
 *
 * The rows are found through the primary key with a snapshot taken as SPI
 * would take it for the statement, and deleted with table_tuple_delete()
 * waiting for a transaction that holds them, which is what the executor's
 * DELETE does (nodeModifyTable.c, ExecDelete).  When a row was updated
 * meanwhile by a transaction that committed, under READ COMMITTED its
 * newest version is locked (table_tuple_lock with
 * TUPLE_LOCK_FLAG_FIND_LAST_VERSION, as ExecDelete does before
 * EvalPlanQual), the condition is evaluated again on that version, and the
 * delete is retried on it if it still holds; under REPEATABLE READ and
 * SERIALIZABLE the executor's serialization failure (40001) is raised.  A
 * row deleted meanwhile (acked, or moved to the dead letters) is not acked.
 */
static int
mq_direct_delete(MqQueue *queue, const int64 *ids, int n, bool fenced,
				 int32 attempt, int64 *acked_ids)
{
	Relation	rel;
	Relation	idx;
	MqDirectTable *t;
	MqDirectTable tab;
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	CommandId	cid;
	int			nacked = 0;
	int			i;

	/* the executor's checks of a write (ExecCheckXactReadOnly) */
	PreventCommandIfReadOnly("DELETE");
	PreventCommandIfParallelMode("DELETE");
	rel = table_open(queue->relid, RowExclusiveLock);
	t = mq_direct_table(rel);
	if (!t->ackable || (queue->v2 && t->group_id == 0) ||
		t->natts != RelationGetDescr(rel)->natts)
	{
		table_close(rel, NoLock);
		return -1;
	}
	/* an invalidation while this runs may drop the cached entry */
	tab = *t;
	t = &tab;
	if (!queue->v2)
		t->group_id = 0;
	idx = index_open(t->pkey, RowExclusiveLock);

	/* a command and a snapshot of its own, as SPI would run the DELETE */
	snapshot = mq_direct_command(&cid);

	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	for (i = 0; i < n; i++)
	{
		if (mq_direct_delete_row(rel, scan, slot, snapshot, cid, t, ids[i], fenced,
								 attempt, false))
		{
			mq_direct_count_ack(queue, rel, slot, t);
			acked_ids[nacked++] = ids[i];
		}
	}
	index_endscan(scan);

	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return nacked;
}

/*
 * mq_ack of msg_id (fenced by attempt when fenced): sets *acked.  Returns
 * false, having done nothing, when the SQL DELETE must do it.
 */
bool
MqDirectAck(MqQueue *queue, int64 msg_id, bool fenced, int32 attempt, bool *acked)
{
	int64		acked_id;
	int			n = mq_direct_delete(queue, &msg_id, 1, fenced, attempt, &acked_id);

	*acked = (n > 0);
	return n >= 0;
}

/*
 * mq_ack(queue, msg_ids) without fencing: the ids (NULLs left out) are
 * sorted and made distinct, as the DELETE's index scan for = ANY takes
 * them, and deleted in that order.  Returns the number acked, their ids in
 * *acked_ids (ascending), or -1 when the SQL DELETE must do it.
 */
int
MqDirectAckIds(MqQueue *queue, ArrayType *msg_ids, int64 **acked_ids)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int64	   *ids;
	int			n = 0;
	int			i;

	deconstruct_array(msg_ids, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, &nelems);
	ids = palloc(sizeof(int64) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
		if (!nulls[i])
			ids[n++] = DatumGetInt64(elems[i]);
	if (n > 1)
	{
		int			j = 0;

		qsort(ids, n, sizeof(int64), MqInt64Cmp);
		for (i = 1; i < n; i++)
			if (ids[i] != ids[j])
				ids[++j] = ids[i];
		n = j + 1;
	}
	*acked_ids = palloc(sizeof(int64) * Max(n, 1));
	return mq_direct_delete(queue, ids, n, false, 0, *acked_ids);
}

/*
 * The scan key (visible_at, msg_id) >= (from, from_id) on an index whose
 * columns attno and attno + 1 are visible_at and msg_id: a row comparison, whose members (in row[2]) are in
 * the insertion form btree expects of them (the columns' comparison
 * functions), as ExecIndexBuildScanKeys builds them for the statement's
 * row comparison.
 */
static void
mq_direct_from_key(ScanKey key, ScanKey row, AttrNumber attno, TimestampTz from,
				   int64 from_id)
{
	ScanKeyEntryInitialize(&row[0], SK_ROW_MEMBER, attno, BTGreaterEqualStrategyNumber,
						   TIMESTAMPTZOID, InvalidOid, F_TIMESTAMPTZ_CMP,
						   TimestampTzGetDatum(from));
	ScanKeyEntryInitialize(&row[1], SK_ROW_MEMBER | SK_ROW_END, attno + 1,
						   BTGreaterEqualStrategyNumber, INT8OID, InvalidOid,
						   F_BTINT8CMP, Int64GetDatum(from_id));
	ScanKeyEntryInitialize(key, SK_ROW_HEADER, attno, BTGreaterEqualStrategyNumber,
						   InvalidOid, InvalidOid, InvalidOid, PointerGetDatum(row));
}

/*
 * The floor's search (floor.c, step 4; stmt.c, MQ_STMT_FLOOR): the least
 * key (visible_at, msg_id) from (from, from_id) up of a message not
 * exhausted, in snapshot.  Sets *found and, if found, *least and
 * *least_id.  Returns false, having done nothing, when the SQL statement
 * must do it (a table the direct read cannot read).  The table and index
 * are opened with AccessShareLock, as the SELECT opens them.
 */
bool
MqDirectFloor(MqQueue *queue, Snapshot snapshot, TimestampTz from, int64 from_id,
			  TimestampTz *least, int64 *least_id, bool *found)
{
	Relation	rel;
	Relation	idx;
	MqDirectTable *t;
	AttrNumber	att_visible_at;
	AttrNumber	att_msg_id;
	AttrNumber	att_attempt;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key;
	ScanKeyData row[2];
	MemoryContext workcxt;
	MemoryContext old;

	*found = false;
	if (!queue->v2)
		return false;
	rel = table_open(queue->relid, AccessShareLock);
	t = mq_direct_table(rel);
	if (!t->readable || t->natts != RelationGetDescr(rel)->natts)
	{
		table_close(rel, NoLock);
		return false;
	}
	att_visible_at = t->visible_at;
	att_msg_id = t->msg_id;
	att_attempt = t->attempt;
	/* a waiting read searches many times in one call: free what it takes */
	workcxt = AllocSetContextCreate(CurrentMemoryContext, "mq direct floor",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(workcxt);
	idx = index_open(t->readidx, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	mq_direct_from_key(&key, row, 1, from, from_id);
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;

		if (DatumGetInt32(slot_getattr(slot, att_attempt, &isnull)) >= queue->max_attempts)
			continue;
		*least = DatumGetTimestampTz(slot_getattr(slot, att_visible_at, &isnull));
		*least_id = DatumGetInt64(slot_getattr(slot, att_msg_id, &isnull));
		*found = true;
		break;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(workcxt);
	return true;
}

/*
 * A range of a read's search: the rows from the key (floor, floor_id) up
 * whose priority is between lo and hi (the whole queue, for a queue
 * without priorities), readable at now and not exhausted.
 */
typedef struct MqDirectRange
{
	int32		lo;
	int32		hi;
	TimestampTz floor;
	int64		floor_id;
} MqDirectRange;

/* What a read's scans share: the call, and what it has taken so far. */
typedef struct MqDirectLease
{
	MqQueue    *queue;
	MqDirectTable *t;
	Relation	rel;
	Snapshot	snapshot;
	CommandId	cid;
	int			lockflags;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *scanslot;
	TupleTableSlot *lockslot;
	TupleTableSlot *newslot;
	TimestampTz now;
	TimestampTz lease_end;
	bool		pop;
	TupleDesc	desc;
	AttrNumber	resultcols[MQ_DIRECT_RESULT_COLS];	/* desc's, in the table */
	MemoryContext callcxt;
	int32		qty;
	int			n;
	HeapTuple  *rows;
} MqDirectLease;

/*
 * Is the row in slot one the read may lease in range r: from the range's
 * floor up, of a priority within it, visible by now, not exhausted?  The
 * index scan's keys test all but the last on the entry; this tests them
 * on the row, as the executor's recheck of a row version newer than the
 * snapshot's (EvalPlanQual) evaluates the statement's conditions again.
 */
static bool
mq_direct_leasable(MqDirectLease *ls, TupleTableSlot *slot, const MqDirectRange *r)
{
	const MqDirectTable *t = ls->t;
	bool		isnull;
	TimestampTz visible_at;
	int64		msg_id;
	int32		priority;

	visible_at = DatumGetTimestampTz(slot_getattr(slot, t->visible_at, &isnull));
	if (isnull || visible_at > ls->now || visible_at < r->floor)
		return false;
	msg_id = DatumGetInt64(slot_getattr(slot, t->msg_id, &isnull));
	if (visible_at == r->floor && msg_id < r->floor_id)
		return false;
	if (ls->queue->priorities)
	{
		priority = DatumGetInt32(slot_getattr(slot, t->priority, &isnull));
		if (isnull || priority < r->lo || priority > r->hi)
			return false;
	}
	return DatumGetInt32(slot_getattr(slot, t->attempt, &isnull)) <
		ls->queue->max_attempts && !isnull;
}

/*
 * Lease (or pop) the rows idx yields with keys, in the index's order, that
 * are leasable in range r, until the read has qty.
 */
static void
mq_direct_lease_range(MqDirectLease *ls, Relation idx, ScanKey keys, int nkeys,
					  const MqDirectRange *r)
{
	const MqDirectTable *t = ls->t;
	TupleTableSlot *lockslot = ls->lockslot;
	TupleTableSlot *newslot = ls->newslot;
	IndexScanDesc scan;

	scan = index_beginscan(ls->rel, idx, ls->snapshot, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	while (ls->n < ls->qty && index_getnext_slot(scan, ForwardScanDirection, ls->scanslot))
	{
		ItemPointerData tid = ls->scanslot->tts_tid;
		TM_FailureData tmfd;
		TM_Result	result;
		Datum		values[MQ_DIRECT_RESULT_COLS];
		bool		nulls[MQ_DIRECT_RESULT_COLS];
		int32		attempt;
		bool		isnull;
		int			i;
		MemoryContext old;

		if (!mq_direct_leasable(ls, ls->scanslot, r))
			continue;
		result = table_tuple_lock(ls->rel, &tid, ls->snapshot, lockslot, ls->cid,
								  LockTupleExclusive, LockWaitSkip, ls->lockflags,
								  &tmfd);
		switch (result)
		{
			case TM_Ok:
				if (tmfd.traversed && !mq_direct_leasable(ls, lockslot, r))
					continue;
				break;
			case TM_WouldBlock:
			case TM_SelfModified:
				continue;
			case TM_Updated:
			case TM_Deleted:
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent update")));
				if (result == TM_Deleted)
					continue;
				elog(ERROR, "unexpected table_tuple_lock status: %u", result);
				break;
			default:
				elog(ERROR, "unexpected table_tuple_lock status: %u", result);
		}

		/* the lease, on the version locked */
		slot_getallattrs(lockslot);
		attempt = DatumGetInt32(lockslot->tts_values[t->attempt - 1]);
		slot_getattr(lockslot, t->lease_expires_at, &isnull);
		MqStatsPick(DatumGetInt64(lockslot->tts_values[t->msg_id - 1]), attempt,
					DatumGetTimestampTz(lockslot->tts_values[t->visible_at - 1]),
					!isnull);
		mq_direct_row_from(newslot, lockslot);
		mq_direct_set(newslot, t->attempt, Int32GetDatum(attempt + 1), false);
		mq_direct_set(newslot, t->visible_at, TimestampTzGetDatum(ls->lease_end), false);
		/* a pop returns no lease */
		mq_direct_set(newslot, t->lease_expires_at, TimestampTzGetDatum(ls->lease_end),
					  ls->pop);
		ExecStoreVirtualTuple(newslot);

		/* the row returned, as mq_message */
		for (i = 0; i < MQ_DIRECT_RESULT_COLS; i++)
		{
			values[i] = newslot->tts_values[ls->resultcols[i] - 1];
			nulls[i] = newslot->tts_isnull[ls->resultcols[i] - 1];
		}
		old = MemoryContextSwitchTo(ls->callcxt);
		if (ls->rows == NULL)
			ls->rows = palloc(sizeof(HeapTuple) * ls->qty);
		ls->rows[ls->n++] = heap_form_tuple(ls->desc, values, nulls);
		MemoryContextSwitchTo(old);

		if (ls->pop)
			ExecSimpleRelationDelete(ls->rri, ls->estate, NULL, lockslot);
		else
			ExecSimpleRelationUpdate(ls->rri, ls->estate, NULL, lockslot, newslot);
		ResetPerTupleExprContext(ls->estate);
	}
	index_endscan(scan);
}

/*
 * The read's lease (stmt.c, MQ_STMT_READ and MQ_STMT_READ_ONE, and their
 * _PRIO variants, on the tables of 0.2): take up to qty messages readable
 * at now, from the queue's scan floor up in (visible_at, msg_id) order, or
 * with priorities range by range of priority levels (floor.c,
 * MqLevelRanges), each in (priority DESC, visible_at, msg_id) order,
 * skipping those another transaction holds, and lease each until
 * lease_end: attempt + 1, visible_at and lease_expires_at = lease_end; or,
 * with pop, delete each (mq_pop without retention).
 * Returns the number leased, with their rows, shaped as desc (0.2's
 * mq_message), in *rows, in the order taken; or -1, having done nothing,
 * when the SQL statement must do it (a table this cannot read, see the
 * file header, or a desc of another shape).  Call between MqBegin and
 * MqEnd, after MqFloorAdvance.
 *
 * What the statement's executor does, done here with the same calls:
 * - The index on (visible_at, msg_id) is scanned with the statement's
 *   snapshot (a new command, and a new snapshot in READ COMMITTED, as SPI
 *   takes for each statement), from the row comparison (visible_at,
 *   msg_id) >= the floor to visible_at <= now, as btree positions the
 *   statement's scan (nbtree/nbtsearch.c, _bt_first, with the row
 *   comparison's members in insertion form, as ExecIndexBuildScanKeys
 *   builds them).  With priorities, the index on (priority DESC,
 *   visible_at, msg_id) is scanned once per range, in the ranges' order:
 *   a level known with priority = level and the same two keys on the
 *   other columns, a range of levels not known with lo <= priority <= hi,
 *   as the statement's lateral subqueries scan it; a scan ends at the
 *   range's end or when qty rows are taken.  Rows on their last attempt
 *   are passed over.
 * - Each row is locked as FOR UPDATE SKIP LOCKED locks it
 *   (nodeLockRows.c): table_tuple_lock() with LockTupleExclusive and
 *   LockWaitSkip, following the update chain to the newest version in READ
 *   COMMITTED (TUPLE_LOCK_FLAG_FIND_LAST_VERSION).  A row another
 *   transaction holds is skipped (TM_WouldBlock), as is one deleted by a
 *   transaction that committed, or changed by this one's later commands;
 *   a newer version than the snapshot's is leased only if it still passes
 *   the read's conditions (mq_direct_leasable, EvalPlanQual's recheck) and
 *   is otherwise left locked, as the executor leaves it; REPEATABLE READ
 *   and SERIALIZABLE raise the executor's serialization failure (40001)
 *   for a row changed or deleted since their snapshot.
 * - The locked version is updated with ExecSimpleRelationUpdate(), the
 *   executor's update without a plan that logical replication's apply
 *   worker uses: constraints, heap_update() with its TOAST handling (the
 *   body's toasted value is carried over, not copied) and WAL, and new
 *   index entries unless the update is HOT (the row's visible_at changes,
 *   so it is not).  The tuple lock held means no one else can change the
 *   row between the lock and the update, which is why that call may treat
 *   any concurrent update as an error.
 * - SSI: the index and heap access methods take the predicate locks of a
 *   SERIALIZABLE scan and check the write for conflicts themselves.
 * Locks: the table and all its indexes in RowExclusiveLock, as the UPDATE
 * opens them, held to the end of the transaction.
 */
int
MqDirectRead(MqQueue *queue, int32 qty, TimestampTz now, TimestampTz lease_end,
			 bool pop, TupleDesc desc, HeapTuple **rows)
{
	static const Oid result_types[MQ_DIRECT_RESULT_COLS] = {INT8OID, INT4OID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, JSONBOID, JSONBOID, TEXTOID, INT4OID,
		TEXTOID, TEXTOID};
	MqDirectLease ls;
	MqDirectTable *t;
	MqDirectTable tab;
	MemoryContext workcxt;
	Relation	idx;
	ScanKeyData keys[3];
	ScanKeyData row[2];
	int			i;

	*rows = NULL;
	if (!queue->v2 || desc->natts != lengthof(result_types))
		return -1;
	for (i = 0; i < desc->natts; i++)
		if (TupleDescAttr(desc, i)->atttypid != result_types[i])
			return -1;

	/* the executor's checks of a write (ExecCheckXactReadOnly) */
	PreventCommandIfReadOnly(pop ? "DELETE" : "UPDATE");
	PreventCommandIfParallelMode(pop ? "DELETE" : "UPDATE");
	memset(&ls, 0, sizeof(ls));
	ls.rel = table_open(queue->relid, RowExclusiveLock);
	t = mq_direct_table(ls.rel);
	if (!t->readable || t->natts != RelationGetDescr(ls.rel)->natts ||
		(queue->priorities && !OidIsValid(t->prioidx)))
	{
		table_close(ls.rel, NoLock);
		return -1;
	}
	/* an invalidation while this runs may drop the cached entry */
	tab = *t;
	t = &tab;
	t->defvalues = NULL;
	t->defnulls = NULL;

	/* what the executor allocates here goes at the end of the call */
	ls.callcxt = CurrentMemoryContext;
	workcxt = AllocSetContextCreate(ls.callcxt, "mq direct read", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(workcxt);

	/* a command and a snapshot of its own, as SPI would run the UPDATE */
	ls.snapshot = mq_direct_command(&ls.cid);
	if (!IsolationUsesXactSnapshot())
		ls.lockflags |= TUPLE_LOCK_FLAG_FIND_LAST_VERSION;
	ls.queue = queue;
	ls.t = t;
	ls.now = now;
	ls.lease_end = lease_end;
	ls.pop = pop;
	ls.desc = desc;
	/* the columns of mq_message, in its order */
	ls.resultcols[0] = t->msg_id;
	ls.resultcols[1] = t->attempt;
	ls.resultcols[2] = t->enqueued_at;
	ls.resultcols[3] = t->lease_expires_at;
	ls.resultcols[4] = t->body;
	ls.resultcols[5] = t->headers;
	ls.resultcols[6] = t->group_id;
	ls.resultcols[7] = t->priority;
	ls.resultcols[8] = t->topic;
	ls.resultcols[9] = t->routing_key;
	ls.qty = qty;

	ls.estate = CreateExecutorState();
	ls.estate->es_output_cid = ls.cid;
	ls.estate->es_snapshot = ls.snapshot;
	ls.rri = makeNode(ResultRelInfo);
	InitResultRelInfo(ls.rri, ls.rel, 0, NULL, 0);
	mq_direct_open_indices(ls.rel, ls.rri);
	ls.scanslot = table_slot_create(ls.rel, NULL);
	ls.lockslot = table_slot_create(ls.rel, NULL);
	ls.newslot = table_slot_create(ls.rel, NULL);

	if (!queue->priorities)
	{
		MqDirectRange r = {PG_INT32_MIN, PG_INT32_MAX,
		queue->scan_floor, queue->scan_floor_id};

		/* (visible_at, msg_id) >= (floor, floor_id) AND visible_at <= now */
		idx = index_open(t->readidx, RowExclusiveLock);
		mq_direct_from_key(&keys[0], row, 1, r.floor, r.floor_id);
		ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE,
					TimestampTzGetDatum(now));
		mq_direct_lease_range(&ls, idx, keys, 2, &r);
	}
	else
	{
		Datum		hi[2 * MQ_MAX_LEVELS + 1];
		Datum		lo[2 * MQ_MAX_LEVELS + 1];
		Datum		floor[2 * MQ_MAX_LEVELS + 1];
		Datum		floor_id[2 * MQ_MAX_LEVELS + 1];
		int			nranges = MqLevelRanges(queue, hi, lo, floor, floor_id);

		idx = index_open(t->prioidx, RowExclusiveLock);
		for (i = 0; i < nranges && ls.n < qty; i++)
		{
			MqDirectRange r = {DatumGetInt32(lo[i]), DatumGetInt32(hi[i]),
			DatumGetTimestampTz(floor[i]), DatumGetInt64(floor_id[i])};

			if (r.lo == r.hi)
			{
				/*
				 * priority = level AND (visible_at, msg_id) >= its floor AND
				 * visible_at <= now
				 */
				ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ,
							Int32GetDatum(r.hi));
				mq_direct_from_key(&keys[1], row, 2, r.floor, r.floor_id);
				ScanKeyInit(&keys[2], 2, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE,
							TimestampTzGetDatum(now));
				mq_direct_lease_range(&ls, idx, keys, 3, &r);
			}
			else
			{
				/* priority BETWEEN lo AND hi AND visible_at <= now */
				ScanKeyInit(&keys[0], 1, BTGreaterEqualStrategyNumber, F_INT4GE,
							Int32GetDatum(r.lo));
				ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT4LE,
							Int32GetDatum(r.hi));
				ScanKeyInit(&keys[2], 2, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE,
							TimestampTzGetDatum(now));
				mq_direct_lease_range(&ls, idx, keys, 3, &r);
			}
		}
	}

	index_close(idx, NoLock);
	ExecDropSingleTupleTableSlot(ls.scanslot);
	ExecDropSingleTupleTableSlot(ls.lockslot);
	ExecDropSingleTupleTableSlot(ls.newslot);
	ExecCloseIndices(ls.rri);
	FreeExecutorState(ls.estate);
	PopActiveSnapshot();
	table_close(ls.rel, NoLock);
	MemoryContextSwitchTo(ls.callcxt);
	MemoryContextDelete(workcxt);
	*rows = ls.rows;
	return ls.n;
}

/*
 * Open the table kind_<name> of queue (g_ or p_, in the schema of the live
 * table rel) with RowExclusiveLock, and its index led by group_id (g_'s
 * primary key, p_'s index on (group_id, msg_id)); copy its entry into
 * *copy.  NULL if either is missing or the table has what only SQL handles
 * (triggers, row security).
 */
static Relation
mq_direct_group_table(MqQueue *queue, Relation rel, char kind, MqDirectTable *copy,
					  Relation *idx)
{
	char		relname[NAMEDATALEN];
	Oid			relid;
	Relation	r;
	MqDirectTable *t;

	*idx = NULL;
	snprintf(relname, sizeof(relname), "%c_%s", kind, queue->name);
	relid = get_relname_relid(relname, RelationGetNamespace(rel));
	if (!OidIsValid(relid))
		return NULL;
	r = table_open(relid, RowExclusiveLock);
	t = mq_direct_table(r);
	if (r->rd_rel->relkind != RELKIND_RELATION || r->trigdesc != NULL ||
		r->rd_rel->relrowsecurity || !OidIsValid(t->groupidx) ||
		t->natts != RelationGetDescr(r)->natts)
	{
		table_close(r, NoLock);
		return NULL;
	}
	*copy = *t;
	*idx = index_open(copy->groupidx, RowExclusiveLock);
	return r;
}

/*
 * A scan of rel through idx (an index whose first column is group_id) of
 * the rows of group, with snapshot.
 */
static IndexScanDesc
mq_direct_group_scan(Relation rel, Relation idx, Snapshot snapshot, Datum group)
{
	IndexScanDesc scan = index_beginscan(rel, idx, snapshot, 1, 0);
	ScanKeyData key;

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   idx->rd_indcollation[0], F_TEXTEQ, group);
	index_rescan(scan, &key, 1, NULL, 0);
	return scan;
}

/*
 * The group's ack (stmt.c, MQ_STMT_ACK_GROUP, on a queue without
 * retention): delete the live row of msg_id (fenced by attempt when
 * fenced), whatever its group; if it has a group, count it out of the
 * group (g_: n - 1) and move the group's next parked message (the lowest
 * msg_id of the group in p_) into the live table, readable at its own due
 * time or now, whichever is later.  Returns -1, having done nothing, when
 * the SQL statement must do it; 0 if nothing was acked; 1 if acked, with
 * *group_id (NULL for a message without a group), *left (the group's
 * count after, or -1 without a row in g_) and *moved.
 *
 * As the statement, it runs with one snapshot, taken first; what else it
 * does is what the executor does for each of the statement's parts:
 * - the row's delete: mq_direct_delete_row, the plain ack's;
 * - the group's count: the row of g_ the snapshot sees, found through the
 *   primary key, is locked (LockTupleNoKeyExclusive, as an UPDATE that
 *   changes no key locks it, waiting for a send of the group that holds
 *   it) in its newest version in READ COMMITTED, as the UPDATE's
 *   EvalPlanQual takes the newest version, and updated there
 *   (ExecSimpleRelationUpdate; n is not indexed, so the update is HOT when
 *   the page has room); REPEATABLE READ raises 40001 for a row changed
 *   since the snapshot;
 * - the promotion: the first row of the group the snapshot sees on p_'s
 *   index on (group_id, msg_id) is deleted (waiting for a holder, as the
 *   DELETE does; it can only be a transaction that has locked the group's
 *   row before us and has ended), and inserted into the live table with
 *   ExecSimpleRelationInsert.  If the snapshot sees none, or the row was
 *   changed meanwhile, nothing is moved; the caller then promotes with a
 *   newer snapshot (MqGroupRelease), as after the statement.
 */
int
MqDirectAckGroup(MqQueue *queue, int64 msg_id, bool fenced, int32 attempt,
				 char **group_id, int64 *left, bool *moved)
{
	Relation	rel;
	Relation	idx;
	Relation	grel = NULL;
	Relation	gidx = NULL;
	Relation	prel = NULL;
	Relation	pidx = NULL;
	MqDirectTable gtab;
	MqDirectTable ptab;
	AttrNumber	g_n = 0;
	MqDirectTable *t;
	MqDirectTable tab;
	Snapshot	snapshot;
	CommandId	cid;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Datum		group;
	bool		isnull;
	int			result = 1;
	/* the columns a promotion moves from p_ (patt) to q_ (qatt) */
	AttrNumber	patt[9];
	AttrNumber	qatt[9];
	int			i = 0;

	*group_id = NULL;
	*left = -1;
	*moved = false;
	if (!queue->v2)
		return -1;
	/* the executor's checks of a write (ExecCheckXactReadOnly) */
	PreventCommandIfReadOnly("DELETE");
	PreventCommandIfParallelMode("DELETE");
	rel = table_open(queue->relid, RowExclusiveLock);
	t = mq_direct_table(rel);
	if (!t->ackable || !t->readable || !t->usable || t->last_error == 0 ||
		t->natts != RelationGetDescr(rel)->natts)
	{
		table_close(rel, NoLock);
		return -1;
	}
	/* with the constant defaults the promotion's INSERT takes */
	mq_direct_copy(&tab, t, rel);
	t = &tab;
	qatt[0] = t->msg_id;
	qatt[1] = t->visible_at;
	qatt[2] = t->attempt;
	qatt[3] = t->enqueued_at;
	qatt[4] = t->body;
	qatt[5] = t->headers;
	qatt[6] = t->last_error;
	qatt[7] = t->group_id;
	qatt[8] = t->priority;

	/* the tables of groups, as the statement opens them */
	grel = mq_direct_group_table(queue, rel, 'g', &gtab, &gidx);
	if (grel != NULL)
	{
		g_n = gtab.n;
		prel = mq_direct_group_table(queue, rel, 'p', &ptab, &pidx);
	}
	if (prel != NULL)
	{
		patt[0] = ptab.msg_id;
		patt[1] = ptab.visible_at;
		patt[2] = ptab.attempt;
		patt[3] = ptab.enqueued_at;
		patt[4] = ptab.body;
		patt[5] = ptab.headers;
		patt[6] = ptab.last_error;
		patt[7] = ptab.group_id;
		patt[8] = ptab.priority;
		for (i = 0; i < lengthof(patt); i++)
			if (patt[i] == 0)
				break;
	}
	if (grel == NULL || prel == NULL || g_n == 0 || i < lengthof(patt))
	{
		if (pidx != NULL)
			index_close(pidx, NoLock);
		if (prel != NULL)
			table_close(prel, NoLock);
		if (gidx != NULL)
			index_close(gidx, NoLock);
		if (grel != NULL)
			table_close(grel, NoLock);
		table_close(rel, NoLock);
		return -1;
	}
	idx = index_open(t->pkey, RowExclusiveLock);

	/* a command and a snapshot of its own, as SPI would run the statement */
	snapshot = mq_direct_command(&cid);

	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	if (!mq_direct_delete_row(rel, scan, slot, snapshot, cid, t, msg_id, fenced,
							  attempt, true))
		result = 0;
	index_endscan(scan);
	if (result > 0)
	{
		mq_direct_count_ack(queue, rel, slot, t);
		group = slot_getattr(slot, t->group_id, &isnull);
		if (!isnull)
			*group_id = TextDatumGetCString(group);
	}
	ExecDropSingleTupleTableSlot(slot);

	if (*group_id != NULL)
	{
		EState	   *estate = CreateExecutorState();
		ResultRelInfo *grri = makeNode(ResultRelInfo);
		TupleTableSlot *gslot = table_slot_create(grel, NULL);
		TupleTableSlot *gnew = table_slot_create(grel, NULL);
		TupleTableSlot *pslot = table_slot_create(prel, NULL);

		group = CStringGetTextDatum(*group_id);
		estate->es_output_cid = cid;
		estate->es_snapshot = snapshot;

		/* l: UPDATE g_ SET n = n - 1 WHERE group_id = the group */
		InitResultRelInfo(grri, grel, 0, NULL, 0);
		mq_direct_open_indices(grel, grri);
		scan = mq_direct_group_scan(grel, gidx, snapshot, group);
		if (index_getnext_slot(scan, ForwardScanDirection, gslot))
		{
			ItemPointerData tid = gslot->tts_tid;
			TM_FailureData tmfd;
			TM_Result	res;

			res = table_tuple_lock(grel, &tid, snapshot, gslot, cid,
								   LockTupleNoKeyExclusive, LockWaitBlock,
								   IsolationUsesXactSnapshot() ? 0 :
								   TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
			if (res == TM_Updated || (res == TM_Deleted && IsolationUsesXactSnapshot()))
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			if (res == TM_Ok)
			{
				mq_direct_row_from(gnew, gslot);
				*left = DatumGetInt64(gnew->tts_values[g_n - 1]) - 1;
				gnew->tts_values[g_n - 1] = Int64GetDatum(*left);
				ExecStoreVirtualTuple(gnew);
				ExecSimpleRelationUpdate(grri, estate, NULL, gslot, gnew);
				ResetPerTupleExprContext(estate);
			}
			else if (res != TM_Deleted && res != TM_SelfModified)
				elog(ERROR, "unexpected table_tuple_lock status: %u", res);
		}
		index_endscan(scan);
		ExecCloseIndices(grri);

		/* x, y: the group's next parked message into the live table */
		scan = mq_direct_group_scan(prel, pidx, snapshot, group);
		if (index_getnext_slot(scan, ForwardScanDirection, pslot))
		{
			ItemPointerData tid = pslot->tts_tid;
			TM_FailureData tmfd;
			TM_Result	res;

			res = table_tuple_delete(prel, &tid, cid, snapshot, InvalidSnapshot,
									 true, &tmfd, false);
			if (res == TM_Ok)
			{
				ResultRelInfo *qrri = makeNode(ResultRelInfo);
				TupleTableSlot *qslot = table_slot_create(rel, NULL);
				TimestampTz now = GetCurrentTimestamp();
				TimestampTz due;

				slot_getallattrs(pslot);
				ExecClearTuple(qslot);
				memcpy(qslot->tts_values, t->defvalues, sizeof(Datum) * t->natts);
				memcpy(qslot->tts_isnull, t->defnulls, sizeof(bool) * t->natts);
				for (i = 0; i < lengthof(patt); i++)
				{
					qslot->tts_values[qatt[i] - 1] = pslot->tts_values[patt[i] - 1];
					qslot->tts_isnull[qatt[i] - 1] = pslot->tts_isnull[patt[i] - 1];
				}
				due = DatumGetTimestampTz(pslot->tts_values[patt[1] - 1]);
				qslot->tts_values[t->visible_at - 1] = TimestampTzGetDatum(Max(due, now));
				ExecStoreVirtualTuple(qslot);
				InitResultRelInfo(qrri, rel, 0, NULL, 0);
				mq_direct_open_indices(rel, qrri);
				ExecSimpleRelationInsert(qrri, estate, qslot);
				ExecCloseIndices(qrri);
				ExecDropSingleTupleTableSlot(qslot);
				*moved = true;
			}
			else if (IsolationUsesXactSnapshot() &&
					 (res == TM_Updated || res == TM_Deleted))
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
		}
		index_endscan(scan);
		ExecDropSingleTupleTableSlot(gslot);
		ExecDropSingleTupleTableSlot(gnew);
		ExecDropSingleTupleTableSlot(pslot);
		FreeExecutorState(estate);
	}

	PopActiveSnapshot();
	index_close(pidx, NoLock);
	table_close(prel, NoLock);
	index_close(gidx, NoLock);
	table_close(grel, NoLock);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return result;
}

/*
 * mq_nack and mq_extend of a leased message (stmt.c, MQ_STMT_NACK_LOCK and
 * MQ_STMT_NACK_RETRY; MQ_STMT_EXTEND): lock the live row of msg_id if it is
 * on attempt (when fenced) and leased (lease_expires_at not NULL), as
 * SELECT ... FOR UPDATE and the UPDATE lock it (LockTupleExclusive,
 * waiting for a transaction that holds it; in READ COMMITTED its newest
 * version, the condition evaluated again on it, as EvalPlanQual does; in
 * REPEATABLE READ and SERIALIZABLE a row changed since the snapshot raises
 * 40001), then:
 * - extend (nack false): set visible_at and lease_expires_at to until;
 * - nack on an attempt below max_attempts: set visible_at to now plus
 *   delay (the queue's backoff for the attempt when delay < 0),
 *   lease_expires_at to NULL and last_error to error when not error_null;
 * - nack on the last attempt: leave it locked for the caller's dead-letter
 *   statement.
 * The update is written by ExecSimpleRelationUpdate on the version locked.
 * Returns -1, having done nothing, when the SQL statements must do it; 0
 * if no row matched; 1 if updated (*until: the new visible_at); 2 if the
 * nack found the last attempt.  *row_attempt and *group_id (NULL: none)
 * are the row's.
 */
int
MqDirectNack(MqQueue *queue, int64 msg_id, bool fenced, int32 attempt, bool nack,
			 int64 delay, Datum error, bool error_null, TimestampTz *until,
			 int32 *row_attempt, char **group_id)
{
	Relation	rel;
	Relation	idx;
	MqDirectTable *t;
	MqDirectTable tab;
	Snapshot	snapshot;
	CommandId	cid;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key;
	bool		found;
	bool		isnull;
	int			result = 0;

	*group_id = NULL;
	PreventCommandIfReadOnly(nack ? "SELECT FOR UPDATE" : "UPDATE");
	PreventCommandIfParallelMode("UPDATE");
	rel = table_open(queue->relid, RowExclusiveLock);
	t = mq_direct_table(rel);
	if (!t->ackable || t->lease_expires_at == 0 || t->last_error == 0 ||
		(queue->v2 && t->group_id == 0) ||
		t->natts != RelationGetDescr(rel)->natts)
	{
		table_close(rel, NoLock);
		return -1;
	}
	tab = *t;
	t = &tab;
	idx = index_open(t->pkey, RowExclusiveLock);
	snapshot = mq_direct_command(&cid);

	slot = table_slot_create(rel, NULL);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(msg_id));
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot) &&
		mq_direct_ack_matches(slot, t, fenced, attempt, true) &&
		(slot_getattr(slot, t->lease_expires_at, &isnull), !isnull);
	index_endscan(scan);
	if (found)
	{
		ItemPointerData tid = slot->tts_tid;
		TM_FailureData tmfd;
		TM_Result	res;

		res = table_tuple_lock(rel, &tid, snapshot, slot, cid, LockTupleExclusive,
							   LockWaitBlock,
							   IsolationUsesXactSnapshot() ? 0 :
							   TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
		switch (res)
		{
			case TM_Ok:
				if (tmfd.traversed)
					found = mq_direct_ack_matches(slot, t, fenced, attempt, true) &&
						(slot_getattr(slot, t->lease_expires_at, &isnull), !isnull);
				break;
			case TM_SelfModified:
			case TM_Deleted:
				if (res == TM_Deleted && IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent update")));
				found = false;
				break;
			case TM_Updated:
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
				break;
			default:
				elog(ERROR, "unexpected table_tuple_lock status: %u", res);
		}
	}
	if (found)
	{
		TupleTableSlot *newslot = table_slot_create(rel, NULL);
		EState	   *estate = CreateExecutorState();
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		TimestampTz now = GetCurrentTimestamp();

		slot_getallattrs(slot);
		*row_attempt = DatumGetInt32(slot->tts_values[t->attempt - 1]);
		if (t->group_id != 0 && !slot->tts_isnull[t->group_id - 1])
			*group_id = TextDatumGetCString(slot->tts_values[t->group_id - 1]);
		if (nack && *row_attempt >= queue->max_attempts)
			result = 2;
		else
		{
			mq_direct_row_from(newslot, slot);
			if (nack)
			{
				*until = MqAddUsecs(now, delay >= 0 ? delay :
									MqBackoffUsecs(queue, *row_attempt));
				mq_direct_set(newslot, t->lease_expires_at, (Datum) 0, true);
				if (!error_null)
					mq_direct_set(newslot, t->last_error, error, false);
			}
			else
				mq_direct_set(newslot, t->lease_expires_at, TimestampTzGetDatum(*until),
							  false);
			mq_direct_set(newslot, t->visible_at, TimestampTzGetDatum(*until), false);
			ExecStoreVirtualTuple(newslot);

			estate->es_output_cid = cid;
			estate->es_snapshot = snapshot;
			InitResultRelInfo(rri, rel, 0, NULL, 0);
			mq_direct_open_indices(rel, rri);
			ExecSimpleRelationUpdate(rri, estate, NULL, slot, newslot);
			ExecCloseIndices(rri);
			result = 1;
		}
		FreeExecutorState(estate);
		ExecDropSingleTupleTableSlot(newslot);
	}
	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return result;
}
