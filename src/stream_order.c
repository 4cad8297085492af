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
 * nothing of subtransactions) until the top transaction ends.  A consumer
 * ignores its own marks: its own uncommitted records are visible to it and
 * commit or vanish together with its consume.
 *
 * Partition locks.  A mark lives in its backend's slot, so it cannot
 * outlive the backend, and a slot has room for MQ_STREAM_MARKS streams.
 * Where a mark cannot serve, the append takes instead a transaction-level
 * ShareLock on an advisory lock tag (database, stream, partition, 3)
 * before its nextval, and a consume reads a partition only if it can take
 * that lock in RowExclusiveLock mode (which conflicts with ShareLock, not
 * with itself, so consumers never fail for each other) without waiting,
 * after it has read C and the marks (released at once): then every such
 * append with msg_id <= C has ended, by the argument above with "lock" for "mark" (a lock is
 * released after the transaction has left the ProcArray).  The locks serve:
 *
 *   - without shared memory (mq not preloaded), for every append;
 *   - for the streams of a transaction beyond its first MQ_STREAM_MARKS (a
 *     publish may fan out to many streams).  Such a transaction counts
 *     itself in the shared counter nlocking before its first lock (so
 *     before its nextval), and uncounts itself when it ends, after it left
 *     the ProcArray; a consumer reads nlocking after C, and tries the locks
 *     only when it is not zero.  An append counted after the consumer read
 *     nlocking took its msg_id after C;
 *   - for a prepared transaction (two-phase commit): before it is
 *     prepared, its marks become locks of the same partitions (the marks
 *     are cleared after), and the locks pass to the prepared transaction,
 *     which holds them, across a restart too, until COMMIT or ROLLBACK
 *     PREPARED.  So with max_prepared_transactions > 0 a consumer always
 *     tries the locks.
 *
 * Trying a lock costs a lookup in the shared lock table per partition, so
 * a server that allows two-phase commit pays it on each consume, and
 * others only while a transaction appends to more than MQ_STREAM_MARKS
 * streams.  Without shared memory, a partition with appends always in
 * progress is seldom read.
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

/* streams a transaction may mark; beyond, it takes partition locks */
#define MQ_STREAM_MARKS			8
/* advisory lock field4 of the appends' locks without shared memory */
#define MQ_APPEND_LOCK_FIELD4	3

/* An open transaction's appends to one stream (see the file header). */
typedef struct MqAppendMark
{
	Oid			dbid;
	Oid			relid;
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
static pg_atomic_uint32 *nlocking = NULL;	/* transactions taking locks */
static bool locking = false;	/* this transaction is counted in it */
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
	RequestAddinShmemSpace(add_size(mul_size(mq_append_slot_count(), sizeof(MqAppendSlot)),
									sizeof(pg_atomic_uint32)));
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
	nlocking = ShmemInitStruct("mq stream append locks", sizeof(pg_atomic_uint32),
							   &found);
	if (!found)
		pg_atomic_init_u32(nlocking, 0);
	LWLockRelease(AddinShmemInitLock);
}

static void
mq_append_locktag(LOCKTAG *tag, Oid relid, int partition)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, relid, (uint32) partition,
						 MQ_APPEND_LOCK_FIELD4);
}

/* Take the partition locks of stream relid's partitions flagged in parts. */
static void
mq_lock_partitions(Oid relid, int nparts, const uint32 *parts)
{
	int			p;

	for (p = 0; p < nparts; p++)
	{
		LOCKTAG		tag;

		if ((parts[p / 32] & ((uint32) 1 << (p % 32))) == 0)
			continue;
		mq_append_locktag(&tag, relid, p);
		(void) LockAcquire(&tag, ShareLock, false, false);
	}
}

/*
 * Before a prepare: the marks of this transaction become partition locks,
 * which the prepared transaction keeps (see the file header).  The marks
 * stay until the transaction's PREPARE event clears them.
 */
static void
mq_marks_to_locks(void)
{
	MqAppendSlot *slot;
	MqAppendMark marks[MQ_STREAM_MARKS];
	int			n,
				i;

	if (!marks_set || append_slots == NULL)
		return;
	slot = &append_slots[MyProc->pgprocno];
	/* only this backend writes its slot: copy it, lock outside the spinlock */
	SpinLockAcquire(&slot->mutex);
	n = (int) pg_atomic_read_u32(&slot->nmarks);
	memcpy(marks, slot->marks, sizeof(MqAppendMark) * n);
	SpinLockRelease(&slot->mutex);
	for (i = 0; i < n; i++)
		mq_lock_partitions(marks[i].relid, MQ_MAX_PARTITIONS, marks[i].parts);
}

/* Forget this backend's marks: its transaction has ended. */
static void
mq_marks_clear(void)
{
	MqAppendSlot *slot;

	if (locking)
	{
		pg_atomic_fetch_sub_u32(nlocking, 1);
		locking = false;
	}
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
			mq_marks_to_locks();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
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

	uint32		bits[MQ_MAX_PARTITIONS / 32] = {0};

	for (p = 0; p < stream->partitions; p++)
	{
		if (parts[p])
			bits[p / 32] |= (uint32) 1 << (p % 32);
	}
	if (append_slots != NULL)
	{
		slot = &append_slots[MyProc->pgprocno];
		SpinLockAcquire(&slot->mutex);
		n = (int) pg_atomic_read_u32(&slot->nmarks);
		for (i = 0; i < n; i++)
		{
			if (slot->marks[i].dbid == MyDatabaseId &&
				slot->marks[i].relid == stream->relid)
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
		if (mark != NULL)
		{
			for (i = 0; i < MQ_MAX_PARTITIONS / 32; i++)
				mark->parts[i] |= bits[i];
			marks_set = true;
		}
		SpinLockRelease(&slot->mutex);
		if (mark != NULL)
			return;
		/* more streams than marks: counted before the first lock */
		if (!locking)
		{
			pg_atomic_fetch_add_u32(nlocking, 1);
			locking = true;
		}
	}
	/* without shared memory, or beyond the marks: the partition locks */
	mq_lock_partitions(stream->relid, stream->partitions, bits);
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

static void mq_horizons_of_marks(MqQueue *stream, int64 *h);

/*
 * Partitions whose lock an append holds (or a prepared transaction) have
 * horizon 0 (see the file header: called after C and the marks were read).
 */
static void
mq_horizons_of_locks(MqQueue *stream, int64 *h)
{
	int			p;

	for (p = 0; p < stream->partitions; p++)
	{
		LOCKTAG		tag;

		if (h[p] == 0)
			continue;
		mq_append_locktag(&tag, stream->relid, p);
		if (LockAcquire(&tag, RowExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
			h[p] = 0;
		else
			LockRelease(&tag, RowExclusiveLock, false);
	}
}

/*
 * The horizon of every partition of stream (h[p]): a consume delivers
 * records of p below h[p] only.  See the argument in the file header.
 */
void
MqStreamHorizons(MqQueue *stream, Oid seqid, int64 *h)
{
	int64		last;
	int			p;

	last = MqStreamLastId(seqid);
	for (p = 0; p < stream->partitions; p++)
		h[p] = last + 1;
	if (append_slots == NULL)
	{
		mq_horizons_of_locks(stream, h);
		return;
	}
	/* the marks of appends that took msg_ids up to last are visible now */
	pg_memory_barrier();
	mq_horizons_of_marks(stream, h);
	/* and, after the marks, the locks (see the file header) */
	if (max_prepared_xacts > 0 || pg_atomic_read_u32(nlocking) > 0)
		mq_horizons_of_locks(stream, h);
}

/* Lower h[p] to the first_id of every other backend's mark covering p. */
static void
mq_horizons_of_marks(MqQueue *stream, int64 *h)
{
	int			p,
				i;

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

						if (mark->dbid != MyDatabaseId || mark->relid != stream->relid)
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
