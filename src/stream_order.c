/*-------------------------------------------------------------------------
 *
 * stream_order.c
 *	  The order of a stream's records: what an append publishes before it
 *	  takes msg_ids, and how far a consume may read in each partition.
 *
 * The ordering argument.  msg_ids come from a sequence, so a transaction
 * may commit a record with a lower msg_id after records with higher ones
 * were committed and consumed.  A consume must never move a group's
 * position past a msg_id whose append may still commit.  It therefore reads
 * a partition only below its horizon H(p), computed thus:
 *
 *   1. Before it takes any msg_id, an appender publishes a mark in its slot
 *      of shared memory: (database, stream, partitions it will append to,
 *      first_id = 0, "assigning").  After nextval it sets first_id to the
 *      first msg_id it got for that stream.  Later appends of the same
 *      transaction add their partitions to the mark before their nextval
 *      (their msg_ids are above first_id).  The mark is cleared by the
 *      transaction's commit or abort callback, which runs after the
 *      transaction has left the ProcArray (so every later snapshot sees its
 *      outcome), and before waiters are woken.
 *   2. A consumer reads C, the sequence's last value, then (after a memory
 *      barrier) every other backend's marks of the stream.  A mark still
 *      "assigning" is waited for (a few microseconds: the nextval).
 *      H(p) = min(C + 1, first_id of every mark covering p).
 *   3. Only then does it take the snapshot with which it reads records
 *      (always the latest snapshot, whatever the isolation level), and it
 *      reads and delivers records of p with msg_id < H(p), in msg_id order.
 *
 * Claim: every record of p with msg_id x < H(p) is, in that snapshot,
 * either committed (visible) or aborted for good.  Suppose an append X of
 * x < H(p) had not ended when the snapshot was taken.  x <= C, so X's
 * nextval ran before the consumer read C, and X's mark was published before
 * that nextval and is cleared only after the snapshot; so the consumer saw
 * the mark, and H(p) <= first_id <= x: a contradiction.  Hence the records
 * below H(p) that the snapshot shows are exactly the committed records
 * below H(p), and none can be added there later.  The group's position
 * moves to one past the last record returned (< H(p)); a consume that
 * returns nothing writes nothing.  The position row is locked (FOR UPDATE
 * SKIP LOCKED) by the consume and updated in its transaction, so a
 * partition is read by one consume of a group at a time and a rollback
 * returns the records.  So for each group and partition the committed
 * consumes return every committed record once, in msg_id order.
 *
 * What follows: an open append holds back the records behind it in its
 * partitions (not in others); an aborted one is forgotten when it ends, so
 * it leaves no hole.  A savepoint rolled back keeps the mark (which says
 * nothing of subtransactions) until the top transaction ends.  A
 * transaction that appended cannot be prepared (two-phase commit): its mark
 * would have to outlive the backend.  A transaction that appends to more
 * than MQ_STREAM_MARKS streams marks the rest as "every stream of the
 * database from msg_id 1", which holds back every stream until it ends.
 * A consumer ignores its own marks: its own uncommitted records are visible
 * to it and commit or vanish together with its consume.
 *
 * Without shared memory (mq not preloaded), appenders take instead a
 * transaction-level ShareLock on an advisory lock tag (database, stream,
 * partition, 3) before their nextval, and a consume reads a partition only
 * if it can take that lock in ExclusiveLock mode without waiting (released
 * at once, after reading C): then every append with msg_id <= C has ended.
 * Correct, but a partition with appends always in progress is seldom read.
 *
 *
 * Locking protocol.  Each backend owns one slot of shared memory (by
 * pgprocno), made once under AddinShmemInitLock at postmaster start.  A
 * slot's marks are written under its spinlock, by its backend only; nmarks
 * is an atomic that readers may look at without the spinlock to skip empty
 * slots (after the barrier that follows their read of C: see step 2).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/fmgrprotos.h"

#include "mq.h"
#include "stream.h"

/* streams a transaction may append to before it holds back every stream */
#define MQ_STREAM_MARKS			8
/* advisory lock field4 of the appends' locks without shared memory */
#define MQ_APPEND_LOCK_FIELD4	3

/* An open transaction's appends to one stream (see the file header). */
typedef struct MqAppendMark
{
	Oid			dbid;
	Oid			relid;			/* InvalidOid: every stream of dbid */
	int64		first_id;		/* 0 while the first msg_id is assigned */
	uint32		parts[MQ_MAX_PARTITIONS / 32];
} MqAppendMark;

typedef struct MqAppendSlot
{
	slock_t		mutex;
	pg_atomic_uint32 nmarks;	/* written under mutex, read without */
	MqAppendMark marks[MQ_STREAM_MARKS];
} MqAppendSlot;

static MqAppendSlot *append_slots = NULL;
static int	nappend_slots = 0;
static bool marks_set = false;	/* this backend has marks to clear */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static int
mq_append_slot_count(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

static void
mq_stream_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(mul_size(mq_append_slot_count(), sizeof(MqAppendSlot)));
}

static void
mq_stream_shmem_startup(void)
{
	bool		found;
	int			n = mq_append_slot_count();

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	append_slots = ShmemInitStruct("mq stream appends",
								   mul_size(n, sizeof(MqAppendSlot)), &found);
	if (!found)
	{
		int			i;

		for (i = 0; i < n; i++)
		{
			SpinLockInit(&append_slots[i].mutex);
			pg_atomic_init_u32(&append_slots[i].nmarks, 0);
		}
	}
	nappend_slots = n;
	LWLockRelease(AddinShmemInitLock);
}

/* Forget this backend's marks: its transaction has ended. */
static void
mq_marks_clear(void)
{
	MqAppendSlot *slot;

	if (!marks_set || append_slots == NULL)
	{
		marks_set = false;
		return;
	}
	slot = &append_slots[MyProc->pgprocno];
	SpinLockAcquire(&slot->mutex);
	pg_atomic_write_u32(&slot->nmarks, 0);
	SpinLockRelease(&slot->mutex);
	marks_set = false;
}

/*
 * Registered after wakeup.c's callback, so it runs before it (callbacks
 * run newest first): marks are gone before waiting consumers are woken.
 */
static void
mq_stream_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (marks_set)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that appended to a stream"),
						 errdetail("Records behind an open append are held back until its transaction ends.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			mq_marks_clear();
			break;
		default:
			break;
	}
}

void
MqStreamInit(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = mq_stream_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = mq_stream_shmem_startup;
	}
	RegisterXactCallback(mq_stream_xact_callback, NULL);
}

static void
mq_append_locktag(LOCKTAG *tag, Oid relid, int partition)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, relid, (uint32) partition,
						 MQ_APPEND_LOCK_FIELD4);
}

/*
 * Before taking msg_ids for records of stream in the partitions flagged in
 * parts: publish them (see the file header).
 */
void
MqStreamMarkBegin(MqQueue *stream, const bool *parts)
{
	MqAppendSlot *slot;
	MqAppendMark *mark = NULL;
	int			n,
				i,
				p;

	if (append_slots == NULL)
	{
		/* without shared memory: the advisory locks of the partitions */
		for (p = 0; p < stream->partitions; p++)
		{
			LOCKTAG		tag;

			if (!parts[p])
				continue;
			mq_append_locktag(&tag, stream->relid, p);
			(void) LockAcquire(&tag, ShareLock, false, false);
		}
		/* no two-phase commit either way */
		marks_set = true;
		return;
	}

	slot = &append_slots[MyProc->pgprocno];
	SpinLockAcquire(&slot->mutex);
	n = (int) pg_atomic_read_u32(&slot->nmarks);
	for (i = 0; i < n; i++)
	{
		if (slot->marks[i].dbid == MyDatabaseId &&
			(slot->marks[i].relid == stream->relid || slot->marks[i].relid == InvalidOid))
		{
			mark = &slot->marks[i];
			break;
		}
	}
	if (mark == NULL && n < MQ_STREAM_MARKS)
	{
		mark = &slot->marks[n];
		mark->dbid = MyDatabaseId;
		mark->relid = stream->relid;
		mark->first_id = 0;
		memset(mark->parts, 0, sizeof(mark->parts));
		pg_atomic_write_u32(&slot->nmarks, n + 1);
	}
	else if (mark == NULL)
	{
		/* too many streams: hold back every stream of the database */
		mark = &slot->marks[MQ_STREAM_MARKS - 1];
		mark->dbid = MyDatabaseId;
		mark->relid = InvalidOid;
		mark->first_id = 1;
		memset(mark->parts, 0xff, sizeof(mark->parts));
	}
	for (p = 0; p < stream->partitions; p++)
	{
		if (parts[p])
			mark->parts[p / 32] |= (uint32) 1 << (p % 32);
	}
	marks_set = true;
	SpinLockRelease(&slot->mutex);
}

/* After the first nextval of this transaction for stream: its msg_id. */
void
MqStreamMarkFirst(MqQueue *stream, int64 msg_id)
{
	MqAppendSlot *slot;
	int			n,
				i;

	if (append_slots == NULL)
		return;
	slot = &append_slots[MyProc->pgprocno];
	SpinLockAcquire(&slot->mutex);
	n = (int) pg_atomic_read_u32(&slot->nmarks);
	for (i = 0; i < n; i++)
	{
		if (slot->marks[i].dbid == MyDatabaseId &&
			slot->marks[i].relid == stream->relid && slot->marks[i].first_id == 0)
			slot->marks[i].first_id = msg_id;
	}
	SpinLockRelease(&slot->mutex);
}

/* The last msg_id handed out by the stream's sequence, 0 if none. */
int64
MqStreamLastId(Oid seqid)
{
	LOCAL_FCINFO(fc, 1);
	Datum		d;

	InitFunctionCallInfoData(*fc, NULL, 1, InvalidOid, NULL, NULL);
	fc->args[0].value = ObjectIdGetDatum(seqid);
	fc->args[0].isnull = false;
	d = pg_sequence_last_value(fc);
	return fc->isnull ? 0 : DatumGetInt64(d);
}

/*
 * The horizon of every partition of stream (h[p]): a consume delivers
 * records of p below h[p] only.  See the argument in the file header.
 */
void
MqStreamHorizons(MqQueue *stream, Oid seqid, int64 *h)
{
	int64		last;
	int			p,
				i;

	if (append_slots == NULL)
	{
		bool		held[MQ_MAX_PARTITIONS];
		LOCKTAG		tag;

		for (p = 0; p < stream->partitions; p++)
		{
			mq_append_locktag(&tag, stream->relid, p);
			held[p] = LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
		}
		last = MqStreamLastId(seqid);
		for (p = 0; p < stream->partitions; p++)
		{
			h[p] = held[p] ? last + 1 : 0;
			if (held[p])
			{
				mq_append_locktag(&tag, stream->relid, p);
				LockRelease(&tag, ExclusiveLock, false);
			}
		}
		return;
	}

	last = MqStreamLastId(seqid);
	for (p = 0; p < stream->partitions; p++)
		h[p] = last + 1;
	/* the marks of appends that took msg_ids up to last are visible now */
	pg_memory_barrier();

	for (i = 0; i < nappend_slots; i++)
	{
		MqAppendSlot *slot = &append_slots[i];
		bool		assigning;

		if (i == MyProc->pgprocno)
			continue;
		do
		{
			int			n,
						m;

			assigning = false;
			if (pg_atomic_read_u32(&slot->nmarks) == 0)
				break;
			SpinLockAcquire(&slot->mutex);
			n = (int) pg_atomic_read_u32(&slot->nmarks);
			for (m = 0; m < n; m++)
			{
				MqAppendMark *mark = &slot->marks[m];

				if (mark->dbid != MyDatabaseId ||
					(mark->relid != stream->relid && mark->relid != InvalidOid))
					continue;
				if (mark->first_id == 0)
				{
					assigning = true;
					continue;
				}
				for (p = 0; p < stream->partitions; p++)
				{
					if ((mark->parts[p / 32] & ((uint32) 1 << (p % 32))) != 0 &&
						mark->first_id < h[p])
						h[p] = mark->first_id;
				}
			}
			SpinLockRelease(&slot->mutex);
			if (assigning)
			{
				/* that backend is in its nextval: look again in a moment */
				pg_usleep(10);
				CHECK_FOR_INTERRUPTS();
			}
		} while (assigning);
	}
}
