/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Waking waiting readers when a transaction that made messages
 *	  readable ends, and the optional per-queue NOTIFY.
 *
 * A reader waiting in mq_read(..., wait => ...) sleeps on one of
 * mq.wait_slots condition variables in shared memory, chosen by a hash of
 * the database and the queue name.  Functions that change what a reader
 * may find record the queue in a backend-local list that lives for the
 * transaction (MqWakeupRegister): a send, nack, redrive or alter asks for
 * a wake-up when the transaction commits, a read, pop, ack or nack (which
 * lock rows that become readable again if they roll back) asks for one
 * when it aborts.  The transaction callbacks then broadcast on the slot of
 * each such queue, once per queue and transaction, and only if someone
 * waits there.  Two queues may share a slot; their readers then also wake
 * for each other's messages, re-read, find nothing and sleep again, which
 * costs a read but loses nothing.
 *
 * Locking protocol.  There is no LWLock: each slot is a ConditionVariable
 * (protected by its own spinlock) and an atomic count of the backends
 * waiting on it, which lets a committing sender skip the condition
 * variable when nobody waits, so sends pay no shared-memory lock.
 * A reader first adds itself to the slot's wait list
 * (ConditionVariablePrepareToSleep), then increments the count (a full
 * barrier), then reads with a new snapshot, and sleeps only if that read
 * found nothing.  A sender's commit callback runs after the transaction
 * has left the ProcArray (so every snapshot taken later sees its rows);
 * it issues a full barrier and then reads the count.  Either the reader's
 * snapshot was taken after the sender left the ProcArray, and then it sees
 * the message, or the count's increment precedes the sender's read of it,
 * and then the reader is in the wait list when the sender broadcasts.
 * Nothing is lost in between because a broadcast that arrives while the
 * reader is reading takes it off the list and sets its latch, so its next
 * sleep returns at once and it reads again.  (Were something in the read
 * to reset the latch, the sleep would still notice at its timeout, which
 * MqWaitSleep caps at MQ_LOCK_CHECK_MS; and something that prepares to
 * sleep on another condition variable, as buffer I/O waits do, cancels
 * ours, which makes the next sleep return at once.)  The shared struct is
 * created once, under AddinShmemInitLock, at postmaster start; nslots
 * never changes after.
 *
 * Without shared_preload_libraries there is no shared memory: readers poll
 * with latch sleeps from 1 ms doubling to 100 ms.  See docs/wait.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "mq.h"

/* Shortest and longest sleep between polls without shared memory (ms). */
#define MQ_POLL_MIN_MS		1
#define MQ_POLL_MAX_MS		100

/*
 * A waiter checks this often (ms) whether another session waits for a
 * lock that conflicts with the one its read holds on the queue's table.
 */
#define MQ_LOCK_CHECK_MS	1000

typedef struct MqWaitSlot
{
	ConditionVariable cv;
	pg_atomic_uint32 nwaiters;	/* backends between MqWaitBegin and End */
} MqWaitSlot;

typedef struct MqWakeupShared
{
	int			nslots;
	MqWaitSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} MqWakeupShared;

/* A queue this transaction changed, and what to do when it ends. */
typedef struct MqPending
{
	uint32		hash;			/* of database and name; picks the slot */
	int			flags;			/* MQ_WAKE_*, MQ_NOTIFY_ON_COMMIT */
	char		name[MQ_NAME_MAXLEN + 1];
} MqPending;

/* GUC mq.wait_slots */
int			mq_wait_slots = 1024;

static MqWakeupShared *wakeup_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* the queues of the current transaction, in TopTransactionContext */
static MqPending *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;

/* the current wait of this backend, if any */
static MqWaitSlot *wait_slot = NULL;
static bool waiting = false;
static Oid	wait_relid = InvalidOid;
static long poll_ms = MQ_POLL_MIN_MS;
static TimestampTz next_lock_check = 0;

static Size
mq_wakeup_shmem_size(void)
{
	return add_size(offsetof(MqWakeupShared, slots),
					mul_size(mq_wait_slots, sizeof(MqWaitSlot)));
}

static void
mq_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(mq_wakeup_shmem_size());
}

static void
mq_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wakeup_shared = ShmemInitStruct("mq wakeup", mq_wakeup_shmem_size(), &found);
	if (!found)
	{
		int			i;

		wakeup_shared->nslots = mq_wait_slots;
		for (i = 0; i < mq_wait_slots; i++)
		{
			ConditionVariableInit(&wakeup_shared->slots[i].cv);
			pg_atomic_init_u32(&wakeup_shared->slots[i].nwaiters, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

static uint32
mq_queue_hash(const char *name)
{
	return hash_combine(hash_uint32((uint32) MyDatabaseId),
						hash_bytes((const unsigned char *) name, strlen(name)));
}

static MqWaitSlot *
mq_slot(uint32 hash)
{
	return &wakeup_shared->slots[hash % (uint32) wakeup_shared->nslots];
}

/* Wake the readers waiting on the slots of the pending queues with flag. */
static void
mq_wake_pending(int flag)
{
	int			i;

	/* most transactions of a preloaded server never touch a queue */
	if (npending == 0 || wakeup_shared == NULL)
		return;

	/* pairs with the barrier of the waiter's increment; see file header */
	pg_memory_barrier();
	for (i = 0; i < npending; i++)
	{
		MqWaitSlot *slot;

		if (!(pending[i].flags & flag))
			continue;
		slot = mq_slot(pending[i].hash);
		if (pg_atomic_read_u32(&slot->nwaiters) > 0)
			ConditionVariableBroadcast(&slot->cv);
	}
}

/*
 * Is another backend queued for a lock on relation relid that conflicts
 * with the RowExclusiveLock the waiting read holds on it?
 *
 * LockHasWaiters cannot answer this: it needs the lock in the shared lock
 * table, and a RowExclusiveLock is usually taken through the fast path.
 * Instead, look for a backend whose waitLock is the lock of our tag.  A
 * backend's waitLock is set and cleared only under the partition lock of
 * the lock it waits for, so holding our tag's partition lock makes every
 * waitLock that points to our lock stable; a waitLock read while it
 * changes points to a lock of another partition, whose tag never equals
 * ours.  The scan touches one word of each PGPROC, once a second at most.
 */
static bool
mq_lock_has_waiters(Oid relid)
{
	LOCKTAG		tag;
	LWLock	   *partition;
	bool		found = false;
	uint32		i;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	partition = LockHashPartitionLock(LockTagHashCode(&tag));

	LWLockAcquire(partition, LW_SHARED);
	for (i = 0; i < ProcGlobal->allProcCount && !found; i++)
	{
		PGPROC	   *proc = &ProcGlobal->allProcs[i];
		LOCK	   *lock = ((volatile PGPROC *) proc)->waitLock;

		if (lock != NULL && proc != MyProc &&
			memcmp(&lock->tag, &tag, sizeof(LOCKTAG)) == 0 &&
			(GetLocksMethodTable(lock)->conflictTab[proc->waitLockMode] &
			 LOCKBIT_ON(RowExclusiveLock)))
			found = true;
	}
	LWLockRelease(partition);
	return found;
}

/* Forget the current wait, whether it ended normally or by an error. */
static void
mq_wait_reset(void)
{
	if (!waiting)
		return;
	ConditionVariableCancelSleep();
	if (wait_slot != NULL)
		pg_atomic_fetch_sub_u32(&wait_slot->nwaiters, 1);
	wait_slot = NULL;
	wait_relid = InvalidOid;
	waiting = false;
}

static void
mq_xact_callback(XactEvent event, void *arg)
{
	int			i;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:

			/*
			 * Queue the notifications now: PreCommit_Notify, which sends
			 * them, runs after the pre-commit callbacks.  Doing it here
			 * rather than in each send gives one per queue and
			 * transaction, and none for a prepared transaction, which
			 * could not be prepared with a pending NOTIFY.
			 */
			for (i = 0; i < npending; i++)
			{
				if (pending[i].flags & MQ_NOTIFY_ON_COMMIT)
					Async_Notify(psprintf("mq_%s", pending[i].name), "");
			}
			break;
		case XACT_EVENT_COMMIT:
			mq_wake_pending(MQ_WAKE_ON_COMMIT);
			break;
		case XACT_EVENT_ABORT:
			mq_wait_reset();
			mq_wake_pending(MQ_WAKE_ON_ABORT);
			break;
		default:
			break;
	}

	/* TopTransactionContext, where the list lives, is about to go */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
	{
		pending = NULL;
		npending = maxpending = 0;
	}
}

static void
mq_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;

	/* an error ended the wait, caught by a savepoint or an exception block */
	mq_wait_reset();

	/*
	 * Rows the subtransaction locked are free again.  The list does not
	 * say which subtransaction registered a queue, so this may wake
	 * readers for rows still locked by the parent: a harmless extra read.
	 */
	mq_wake_pending(MQ_WAKE_ON_ABORT);
}

void
MqWakeupInit(void)
{
	/*
	 * Shared memory exists only when the library is preloaded, and a
	 * PGC_POSTMASTER setting may only be defined then.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("mq.wait_slots",
								"Number of wait slots readers waiting in mq_read sleep on.",
								"Queues are hashed onto slots; readers of queues that share "
								"a slot also wake for each other's messages.",
								&mq_wait_slots,
								1024,
								16,
								1024 * 1024,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = mq_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = mq_shmem_startup;
	}

	RegisterXactCallback(mq_xact_callback, NULL);
	RegisterSubXactCallback(mq_subxact_callback, NULL);
}

/*
 * Record that the current transaction changed queue in a way that may make
 * messages readable when it ends (flags: MQ_WAKE_ON_COMMIT,
 * MQ_WAKE_ON_ABORT, MQ_NOTIFY_ON_COMMIT).  Cheap: a scan of the few queues
 * the transaction touched, no shared memory.
 */
void
MqWakeupRegister(MqQueue *queue, int flags)
{
	int			i;

	for (i = 0; i < npending; i++)
	{
		if (strcmp(pending[i].name, queue->name) == 0)
		{
			pending[i].flags |= flags;
			return;
		}
	}

	if (npending >= maxpending)
	{
		int			newmax = maxpending == 0 ? 8 : maxpending * 2;

		if (pending == NULL)
			pending = MemoryContextAlloc(TopTransactionContext,
										 newmax * sizeof(MqPending));
		else
			pending = repalloc(pending, newmax * sizeof(MqPending));
		maxpending = newmax;
	}
	pending[npending].hash = mq_queue_hash(queue->name);
	pending[npending].flags = flags;
	strlcpy(pending[npending].name, queue->name, sizeof(pending[npending].name));
	npending++;
}

/*
 * Begin waiting for messages on queue.  The caller must then test for
 * messages (read with a new snapshot) before each MqWaitSleep, and call
 * MqWaitEnd at the end.  An error ends the wait through the abort
 * callbacks.
 */
void
MqWaitBegin(MqQueue *queue)
{
	Assert(!waiting);

	waiting = true;
	wait_relid = queue->relid;
	poll_ms = MQ_POLL_MIN_MS;
	next_lock_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  MQ_LOCK_CHECK_MS);
	if (wakeup_shared != NULL)
	{
		wait_slot = mq_slot(mq_queue_hash(queue->name));
		ConditionVariablePrepareToSleep(&wait_slot->cv);
		/* a full barrier: see the protocol in the file header */
		pg_atomic_fetch_add_u32(&wait_slot->nwaiters, 1);
	}
}

/*
 * Sleep until a transaction that may have made messages readable ends,
 * or until "until", whichever comes first; spurious returns are possible.
 * Cancel, statement_timeout and termination interrupt the sleep with an
 * error.  Returns false if the wait should end early because another
 * session is queued for a lock on the queue's table that conflicts with
 * the reader's (mq_drop, ALTER TABLE, CREATE INDEX...): that session, and
 * every send queued behind it, would otherwise wait for this reader.
 */
bool
MqWaitSleep(TimestampTz until)
{
	TimestampTz now = GetCurrentTimestamp();
	long		secs;
	int			usecs;
	long		timeout;

	Assert(waiting);

	if (now >= next_lock_check)
	{
		if (mq_lock_has_waiters(wait_relid))
			return false;
		next_lock_check = TimestampTzPlusMilliseconds(now, MQ_LOCK_CHECK_MS);
	}
	if (until > next_lock_check)
		until = next_lock_check;

	/* round up, so that a message due at "until" is due when we wake */
	TimestampDifference(now, until, &secs, &usecs);
	timeout = secs * 1000 + (usecs + 999) / 1000;

	if (wakeup_shared != NULL)
	{
		if (timeout > 0)
			(void) ConditionVariableTimedSleep(&wait_slot->cv, timeout,
											   PG_WAIT_EXTENSION);
	}
	else
	{
		/* no shared memory: poll, backing off while nothing comes */
		if (timeout > poll_ms)
			timeout = poll_ms;
		poll_ms = Min(poll_ms * 2, MQ_POLL_MAX_MS);
		if (timeout > 0)
		{
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
	CHECK_FOR_INTERRUPTS();
	return true;
}

void
MqWaitEnd(void)
{
	mq_wait_reset();
}
