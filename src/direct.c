/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  The plain send's INSERT into a queue's live table and the plain ack's
 *	  DELETE from it, through the table and index access methods, without
 *	  SPI.
 *
 * mq_send and mq_send_batch of messages without a group or a dedup key
 * (send.c) insert their rows here, and mq_ack of a queue without retention
 * (ack.c) deletes its row here (see MqDirectAck for the delete), instead
 * of running the statements of stmt.c through SPI, which costs a second
 * executor start-up, a plan-cache check and a result copy per call.  The
 * row and its index entries are written by the very functions the
 * executor's INSERT calls, in the same order, so the
 * heap, the indexes, TOAST and the WAL (which physical replication replays
 * and logical decoding reads as an ordinary insert) are what the INSERT
 * would have left.
 *
 * What is done, and the PostgreSQL invariants it rests on (PostgreSQL 15,
 * the only version mq builds for; src/backend/executor/execReplication.c,
 * execIndexing.c, nodeModifyTable.c, access/heap/heapam.c,
 * heapam_handler.c, heaptoast.c):
 *
 * - The row is stored with ExecSimpleRelationInsert(), the executor's
 *   insert without a plan that logical replication's apply worker uses for
 *   every replicated INSERT.  It checks the table's constraints
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
 * numbers of the columns a send sets, the identity sequence and the
 * constant defaults.  They derive from the table's relcache entry, and an
 * entry is dropped by a relcache invalidation of its table (or of all
 * relations), as ALTER TABLE, a new index, DROP or a relcache reset sends;
 * it is looked up only after the table is opened with its lock, so it is
 * never used stale.  Nothing of the executor (EState, ResultRelInfo,
 * slots) outlives a call, and a call works on its own copy of the entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_am_d.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "direct.h"

/* What a live table's inserts need, per table. */
typedef struct MqDirectTable
{
	Oid			relid;			/* hash key */
	bool		usable;			/* false: the caller runs the SQL INSERT */
	int			natts;
	Oid			seqid;			/* msg_id's identity sequence */
	AttrNumber	msg_id;
	AttrNumber	visible_at;
	AttrNumber	enqueued_at;
	AttrNumber	body;
	AttrNumber	headers;
	AttrNumber	priority;		/* 0: a table of mq 0.1 */
	Datum	   *defvalues;		/* per attribute: constant default or 0 */
	bool	   *defnulls;
} MqDirectTable;

static HTAB *direct_tables = NULL;
static MemoryContext direct_cxt = NULL;

static void
mq_direct_forget(MqDirectTable *t)
{
	if (t->defvalues != NULL)
		pfree(t->defvalues);
	if (t->defnulls != NULL)
		pfree(t->defnulls);
	hash_search(direct_tables, &t->relid, HASH_REMOVE, NULL);
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

/* The entry of an open live table, built from its relcache entry. */
static MqDirectTable *
mq_direct_table(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	MqDirectTable *t;
	bool		found;
	int			i;
	MemoryContext old;

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
	}
	t = hash_search(direct_tables, &relid, HASH_ENTER, &found);
	if (found)
		return t;

	memset(((char *) t) + sizeof(Oid), 0, sizeof(MqDirectTable) - sizeof(Oid));
	t->natts = desc->natts;
	old = MemoryContextSwitchTo(direct_cxt);
	t->defvalues = palloc0(sizeof(Datum) * desc->natts);
	t->defnulls = palloc(sizeof(bool) * desc->natts);
	MemoryContextSwitchTo(old);
	memset(t->defnulls, true, sizeof(bool) * desc->natts);

	/* what only the SQL INSERT handles */
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition ||
		rel->trigdesc != NULL || rel->rd_rel->relrowsecurity)
		return t;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AttrNumber	attnum = att->attnum;
		const char *name = NameStr(att->attname);
		Node	   *def;

		if (att->attisdropped)
			continue;
		if (strcmp(name, "msg_id") == 0)
		{
			if (att->atttypid != INT8OID || !att->attidentity)
				return t;
			t->msg_id = attnum;
			continue;
		}
		else if (strcmp(name, "visible_at") == 0 && att->atttypid == TIMESTAMPTZOID)
		{
			t->visible_at = attnum;
			continue;
		}
		else if (strcmp(name, "enqueued_at") == 0 && att->atttypid == TIMESTAMPTZOID)
		{
			t->enqueued_at = attnum;
			continue;
		}
		else if (strcmp(name, "body") == 0 && att->atttypid == JSONBOID)
		{
			t->body = attnum;
			continue;
		}
		else if (strcmp(name, "headers") == 0 && att->atttypid == JSONBOID)
		{
			t->headers = attnum;
			continue;
		}
		else if (strcmp(name, "priority") == 0 && att->atttypid == INT4OID)
			t->priority = attnum;

		/* a column the send may leave to its default: a constant or none */
		if (att->attidentity || att->attgenerated)
			return t;
		def = build_column_default(rel, attnum);
		if (def != NULL)
		{
			def = (Node *) expression_planner((Expr *) def);
			if (!IsA(def, Const))
				return t;
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
	if (t->msg_id == 0 || t->visible_at == 0 || t->enqueued_at == 0 ||
		t->body == 0 || t->headers == 0)
		return t;
	t->seqid = getIdentitySequence(relid, t->msg_id, true);
	t->usable = OidIsValid(t->seqid);
	return t;
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
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int			i;

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

	/*
	 * A copy for this call: an invalidation that arrives while it runs (a
	 * relcache reset, when a lock is taken below) drops the cached entry,
	 * and the table cannot change meanwhile under our lock.
	 */
	tab = *t;
	tab.defvalues = palloc(sizeof(Datum) * tab.natts);
	tab.defnulls = palloc(sizeof(bool) * tab.natts);
	memcpy(tab.defnulls, t->defnulls, sizeof(bool) * tab.natts);
	for (i = 0; i < tab.natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), i);

		tab.defvalues[i] = tab.defnulls[i] ? (Datum) 0 :
			datumCopy(t->defvalues[i], att->attbyval, att->attlen);
	}
	t = &tab;

	estate = CreateExecutorState();
	estate->es_output_cid = GetCurrentCommandId(true);
	rri = makeNode(ResultRelInfo);
	/* no range table: ExecGetInsertedCols() then answers NULL, for errors */
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = table_slot_create(rel, NULL);

	for (i = 0; i < nbodies; i++)
	{
		ExecClearTuple(slot);
		memcpy(slot->tts_values, t->defvalues, sizeof(Datum) * t->natts);
		memcpy(slot->tts_isnull, t->defnulls, sizeof(bool) * t->natts);
		msg_ids[i] = nextval_internal(t->seqid, false);
		slot->tts_values[t->msg_id - 1] = Int64GetDatum(msg_ids[i]);
		slot->tts_isnull[t->msg_id - 1] = false;
		slot->tts_values[t->visible_at - 1] = TimestampTzGetDatum(send->visible_at);
		slot->tts_isnull[t->visible_at - 1] = false;
		slot->tts_values[t->enqueued_at - 1] = TimestampTzGetDatum(send->enqueued_at);
		slot->tts_isnull[t->enqueued_at - 1] = false;
		slot->tts_values[t->body - 1] = bodies[i];
		slot->tts_isnull[t->body - 1] = false;
		slot->tts_values[t->headers - 1] = send->headers;
		slot->tts_isnull[t->headers - 1] = send->headers_null;
		if (t->priority != 0)
		{
			slot->tts_values[t->priority - 1] = Int32GetDatum(send->priority);
			slot->tts_isnull[t->priority - 1] = false;
		}
		ExecStoreVirtualTuple(slot);
		ExecSimpleRelationInsert(rri, estate, slot);
		ResetPerTupleExprContext(estate);
	}

	ExecDropSingleTupleTableSlot(slot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	return true;
}

/* The attribute number of column name of rel, or 0. */
static AttrNumber
mq_direct_attnum(Relation rel, const char *name, Oid type)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && att->atttypid == type &&
			strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return 0;
}

/* Does the row in slot pass the plain ack's condition? */
static bool
mq_direct_ack_matches(TupleTableSlot *slot, AttrNumber att_attempt,
					  AttrNumber att_group, bool fenced, int32 attempt)
{
	bool		isnull;

	if (fenced &&
		DatumGetInt32(slot_getattr(slot, att_attempt, &isnull)) != attempt)
		return false;
	if (att_group != 0)
	{
		slot_getattr(slot, att_group, &isnull);
		if (!isnull)
			return false;
	}
	return true;
}

/*
 * The plain ack's DELETE (stmt.c, MQ_STMT_ACK): delete the live row of
 * msg_id if it is on attempt (when fenced) and, on the tables of 0.2, in no
 * group; count it in the statistics.  Sets *acked.  Returns false, having
 * done nothing, when the SQL DELETE must do it (a table this cannot write,
 * see the file header).
 *
 * The row is found through the primary key with a snapshot taken as SPI
 * would take it for the statement, and deleted with table_tuple_delete()
 * waiting for a transaction that holds it, which is what the executor's
 * DELETE does (nodeModifyTable.c, ExecDelete).  When the row was updated
 * meanwhile by a transaction that committed, under READ COMMITTED its
 * newest version is locked (table_tuple_lock with
 * TUPLE_LOCK_FLAG_FIND_LAST_VERSION, as ExecDelete does before
 * EvalPlanQual), the condition is evaluated again on that version, and the
 * delete is retried on it if it still holds; under REPEATABLE READ and
 * SERIALIZABLE the executor's serialization failure (40001) is raised.  A
 * row deleted meanwhile (acked, or moved to the dead letters) is not acked.
 */
bool
MqDirectAck(MqQueue *queue, int64 msg_id, bool fenced, int32 attempt, bool *acked)
{
	Relation	rel;
	Relation	idx;
	Oid			pkey;
	AttrNumber	att_msg_id;
	AttrNumber	att_attempt;
	AttrNumber	att_group;
	AttrNumber	att_enqueued_at;
	Snapshot	snapshot;
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	CommandId	cid;
	bool		found;

	*acked = false;
	/* the executor's checks of a write (ExecCheckXactReadOnly) */
	PreventCommandIfReadOnly("DELETE");
	PreventCommandIfParallelMode("DELETE");
	rel = table_open(queue->relid, RowExclusiveLock);
	pkey = RelationGetPrimaryKeyIndex(rel);
	att_msg_id = mq_direct_attnum(rel, "msg_id", INT8OID);
	att_attempt = mq_direct_attnum(rel, "attempt", INT4OID);
	att_enqueued_at = mq_direct_attnum(rel, "enqueued_at", TIMESTAMPTZOID);
	att_group = queue->v2 ? mq_direct_attnum(rel, "group_id", TEXTOID) : 0;
	if (!OidIsValid(pkey) || att_msg_id == 0 || att_attempt == 0 ||
		att_enqueued_at == 0 || (queue->v2 && att_group == 0) ||
		rel->trigdesc != NULL || rel->rd_rel->relrowsecurity ||
		rel->rd_rel->relkind != RELKIND_RELATION)
	{
		table_close(rel, NoLock);
		return false;
	}
	idx = index_open(pkey, RowExclusiveLock);
	if (idx->rd_index->indnatts != 1 ||
		idx->rd_index->indkey.values[0] != att_msg_id ||
		idx->rd_rel->relam != BTREE_AM_OID)
	{
		index_close(idx, NoLock);
		table_close(rel, NoLock);
		return false;
	}

	/* a command and a snapshot of its own, as SPI would run the DELETE */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	snapshot = GetActiveSnapshot();
	cid = GetCurrentCommandId(true);

	slot = table_slot_create(rel, NULL);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(msg_id));
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot) &&
		mq_direct_ack_matches(slot, att_attempt, att_group, fenced, attempt);
	index_endscan(scan);

	while (found)
	{
		ItemPointerData tid = slot->tts_tid;
		TM_FailureData tmfd;
		TM_Result	result;

		result = table_tuple_delete(rel, &tid, cid, snapshot, InvalidSnapshot,
									true, &tmfd, false);
		if (result == TM_Ok)
		{
			SPITupleTable rows;
			HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, NULL);

			/* the statistics read enqueued_at from the deleted row */
			memset(&rows, 0, sizeof(rows));
			rows.tupdesc = RelationGetDescr(rel);
			rows.vals = &tup;
			MqStatsAcked(queue, &rows, 1, att_enqueued_at);
			*acked = true;
			break;
		}
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
					found = mq_direct_ack_matches(slot, att_attempt, att_group,
												  fenced, attempt);
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

	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return true;
}
