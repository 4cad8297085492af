/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Waking waiting readers and status waiters when a transaction that
 *	  changed their queue ends, and the optional per-queue NOTIFY.
 *
 * A reader waiting in mq_read(..., wait => ...) sleeps on one of
 * mq.wait_slots condition variables in shared memory, chosen by a hash of
 * the database and the queue name; a producer waiting in mq_status(...,
 * wait => ...) sleeps on the slot of another hash of the same name, so that
 * readers and status waiters never wake each other.  Functions that change
 * what a waiter may find record the queue in a backend-local list that
 * lives for the transaction (MqWakeupRegister): a send, nack, redrive or
 * alter asks to wake readers when the transaction commits; a read, pop, ack
 * or nack (which lock rows that become readable again if they roll back)
 * asks to wake them when it aborts; an ack, pop, dead-lettering or purge
 * asks to wake status waiters when it commits.  The transaction callbacks
 * then broadcast on the slot of each such queue, once per queue and
 * transaction, and only if someone waits there.  Two queues may share a
 * slot; their waiters then also wake for each other's changes, look again,
 * find nothing and sleep again, which costs a read but loses nothing.
 *
 * Locking protocol.  There is no LWLock: each slot is a ConditionVariable
 * (protected by its own spinlock), an atomic count of the backends waiting
 * on it, which lets a committing sender skip the condition variable when
 * nobody waits, so sends pay no shared-memory lock, and an atomic counter
 * of DDL announcements (below).  A waiter first adds itself to the slot's
 * wait list (ConditionVariablePrepareToSleep), then increments the count
 * (a full barrier), then reads with a new snapshot, and sleeps only if that
 * read found nothing.  A sender's commit callback runs after the
 * transaction has left the ProcArray (so every snapshot taken later sees
 * its rows); it issues a full barrier and then reads the count.  Either the
 * waiter's snapshot was taken after the sender left the ProcArray, and then
 * it sees the change, or the count's increment precedes the sender's read
 * of it, and then the waiter is in the wait list when the sender
 * broadcasts.
 *
 * Nothing is lost between a read and the sleep after it, because the sleep
 * (mq_cv_sleep) does not rely on the latch to learn of a broadcast: a
 * broadcast takes the waiter off the condition variable's list, and the
 * sleep looks at that list, under the condition variable's spinlock, both
 * before it waits and after every wake-up.  Off the list means "something
 * may have changed": the sleep puts the waiter back on the list and returns,
 * and the caller reads again.  A latch set for another reason, or reset by
 * something the read did, therefore neither loses a broadcast nor causes a
 * read; something that prepares to sleep on another condition variable
 * during the read (buffer I/O waits do) takes the waiter off our list too,
 * which costs one extra read.
 *
 * A waiter sleeps until its wait ends, a broadcast comes, or the next
 * message falls due by the clock; there is no periodic read.  Two other
 * things end a wait early, with nothing found:
 *
 * - Another session queues for a lock on the queue's live table that
 *   conflicts with the one the wait holds (mq_drop, mq_alter's ALTER TABLE,
 *   a DBA's CREATE INDEX...), which would otherwise wait for the whole wait,
 *   with every send queued behind it.  mq's own DDL announces itself before
 *   it locks (MqWaitInterrupt): it bumps the slot's DDL counter and
 *   broadcasts, and a waiter that sees the counter move ends its wait at
 *   once.  For DDL from elsewhere a waiter looks at the lock table every
 *   MQ_LOCK_CHECK_MS, without reading the queue: a lock that conflicts
 *   with a waiter's RowExclusiveLock or AccessShareLock is "strong" in
 *   lock.c's sense, and a session asking for a strong lock first moves
 *   every fast-path lock on the relation into the shared lock table, under
 *   the lock's partition LWLock, before it sleeps.  So the waiter, holding
 *   that partition lock in shared mode, walks its own PROCLOCKs of the
 *   partition (a handful), and if one is for its table, tests the LOCK's
 *   waitMask against the conflicts of its own mode.  If its lock is still
 *   in the fast path, nobody asked for a strong lock.  This costs a few
 *   microseconds every few seconds per waiter.
 *
 * - The waiter's client disconnects.  With a client connection, the sleep
 *   waits on the FeBe wait set with WL_SOCKET_CLOSED, as
 *   client_connection_check_interval does, and the caller checks the socket
 *   again (pq_check_connection) after each wake-up, before it reads: a
 *   waiting read whose client has gone ends with FATAL "connection to
 *   client lost" and leases nothing.
 *
 * The shared struct is created once, under AddinShmemInitLock, at
 * postmaster start; nslots never changes after.
 *
 * Without shared_preload_libraries there is no shared memory: waiters poll
 * with latch sleeps from 1 ms doubling to 100 ms.  See docs/wait.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "libpq/libpq.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/proclist.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "mq.h"

/* Shortest and longest sleep between polls without shared memory (ms). */
#define MQ_POLL_MIN_MS		1
#define MQ_POLL_MAX_MS		100

/*
 * A waiter looks this often (ms) whether another session waits for a lock
 * that conflicts with its own on the queue's table; see the file header.
 */
#define MQ_LOCK_CHECK_MS	5000

typedef struct MqWaitSlot
{
	ConditionVariable cv;
	pg_atomic_uint32 nwaiters;	/* backends between MqWaitBegin and End */
	pg_atomic_uint32 ddl;		/* bumped by MqWaitInterrupt */
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
static LOCKMODE wait_lockmode = NoLock;
static uint32 wait_ddl = 0;
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
			pg_atomic_init_u32(&wakeup_shared->slots[i].ddl, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The hash of a queue's readers' slot, or of its status waiters' slot. */
static uint32
mq_queue_hash(const char *name, MqWaitKind kind)
{
	uint32		h = hash_combine(hash_uint32((uint32) MyDatabaseId),
								 hash_bytes((const unsigned char *) name, strlen(name)));

	return kind == MQ_WAIT_STATUS ? hash_combine(h, 0x9e3779b9) : h;
}

static MqWaitSlot *
mq_slot(uint32 hash)
{
	return &wakeup_shared->slots[hash % (uint32) wakeup_shared->nslots];
}

/* Broadcast on slot if anyone waits there. */
static void
mq_wake_slot(MqWaitSlot *slot)
{
	if (pg_atomic_read_u32(&slot->nwaiters) > 0)
		ConditionVariableBroadcast(&slot->cv);
}

/* Wake the waiters of the pending queues with flag. */
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
		if (pending[i].flags & flag & (MQ_WAKE_ON_COMMIT | MQ_WAKE_ON_ABORT))
			mq_wake_slot(mq_slot(pending[i].hash));
		if (pending[i].flags & flag & MQ_WAKE_STATUS_ON_COMMIT)
			mq_wake_slot(mq_slot(hash_combine(pending[i].hash, 0x9e3779b9)));
	}
}

/*
 * Is another backend queued for a lock on relation relid that conflicts
 * with the lock (mode) this backend holds on it?  See the file header: a
 * conflicting request is a strong one, which moves our fast-path lock into
 * the shared lock table before it waits, so our own PROCLOCKs of the tag's
 * partition tell; reading them and the LOCK's waitMask needs the partition
 * lock, in shared mode.
 */
static bool
mq_lock_has_waiters(Oid relid, LOCKMODE mode)
{
	LOCKTAG		tag;
	uint32		hashcode;
	LWLock	   *partition;
	LOCKMASK	conflicts;
	bool		found = false;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	hashcode = LockTagHashCode(&tag);
	partition = LockHashPartitionLock(hashcode);
	conflicts = GetLockTagsMethodTable(&tag)->conflictTab[mode];

	LWLockAcquire(partition, LW_SHARED);
#if PG_VERSION_NUM >= 160000
	{
		dlist_iter	iter;

		dlist_foreach(iter, &MyProc->myProcLocks[LockHashPartition(hashcode)])
		{
			PROCLOCK   *proclock = dlist_container(PROCLOCK, procLink, iter.cur);
			LOCK	   *lock = proclock->tag.myLock;

			if (memcmp(&lock->tag, &tag, sizeof(LOCKTAG)) == 0)
			{
				found = (lock->waitMask & conflicts) != 0;
				break;
			}
		}
	}
#else
	{
		SHM_QUEUE  *head = &MyProc->myProcLocks[LockHashPartition(hashcode)];
		PROCLOCK   *proclock;

		proclock = (PROCLOCK *) SHMQueueNext(head, head, offsetof(PROCLOCK, procLink));
		while (proclock != NULL)
		{
			LOCK	   *lock = proclock->tag.myLock;

			if (memcmp(&lock->tag, &tag, sizeof(LOCKTAG)) == 0)
			{
				found = (lock->waitMask & conflicts) != 0;
				break;
			}
			proclock = (PROCLOCK *) SHMQueueNext(head, &proclock->procLink,
												 offsetof(PROCLOCK, procLink));
		}
	}
#endif
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
	MqStatsWaitEnd();
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
			mq_wake_pending(MQ_WAKE_ON_COMMIT | MQ_WAKE_STATUS_ON_COMMIT);
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
 * Record that the current transaction changed queue in a way that matters to
 * waiters when it ends (flags: MQ_WAKE_ON_COMMIT, MQ_WAKE_ON_ABORT,
 * MQ_WAKE_STATUS_ON_COMMIT, MQ_NOTIFY_ON_COMMIT).  Cheap: a scan of the few
 * queues the transaction touched, no shared memory.
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
	pending[npending].hash = mq_queue_hash(queue->name, MQ_WAIT_READ);
	pending[npending].flags = flags;
	strlcpy(pending[npending].name, queue->name, sizeof(pending[npending].name));
	npending++;
}

/*
 * Tell the waiters of queue, now, that this session is about to take a lock
 * on its tables that conflicts with theirs (mq_drop, mq_alter): their waits
 * end at once instead of holding up this session until they time out.
 */
void
MqWaitInterrupt(MqQueue *queue)
{
	MqWaitSlot *slot;

	if (wakeup_shared == NULL)
		return;
	slot = mq_slot(mq_queue_hash(queue->name, MQ_WAIT_READ));
	pg_atomic_fetch_add_u32(&slot->ddl, 1);
	mq_wake_slot(slot);
	slot = mq_slot(mq_queue_hash(queue->name, MQ_WAIT_STATUS));
	pg_atomic_fetch_add_u32(&slot->ddl, 1);
	mq_wake_slot(slot);
}

/*
 * Begin waiting on queue: for messages to read (MQ_WAIT_READ, holding
 * RowExclusiveLock on its live table), or for a message's fate
 * (MQ_WAIT_STATUS, holding AccessShareLock).  The caller must then look
 * (read with a new snapshot) before each MqWaitSleep, and call MqWaitEnd at
 * the end.  An error ends the wait through the abort callbacks.
 */
void
MqWaitBegin(MqQueue *queue, MqWaitKind kind)
{
	Assert(!waiting);

	waiting = true;
	wait_relid = queue->relid;
	wait_lockmode = kind == MQ_WAIT_STATUS ? AccessShareLock : RowExclusiveLock;
	poll_ms = MQ_POLL_MIN_MS;
	if (kind == MQ_WAIT_READ)
		MqStatsWaitBegin(queue);
	next_lock_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  MQ_LOCK_CHECK_MS);
	if (wakeup_shared != NULL)
	{
		wait_slot = mq_slot(mq_queue_hash(queue->name, kind));
		ConditionVariablePrepareToSleep(&wait_slot->cv);
		/* a full barrier: see the protocol in the file header */
		pg_atomic_fetch_add_u32(&wait_slot->nwaiters, 1);
		wait_ddl = pg_atomic_read_u32(&wait_slot->ddl);
	}
}

/*
 * Are we still on cv's wait list?  If not, a broadcast took us off (or
 * something else prepared to sleep on another condition variable): go back
 * on, and tell the caller to look again.
 */
static bool
mq_cv_still_waiting(ConditionVariable *cv)
{
	bool		listed;

	SpinLockAcquire(&cv->mutex);
	listed = proclist_contains(&cv->wakeup, MyProc->pgprocno, cvWaitLink);
	SpinLockRelease(&cv->mutex);
	if (!listed)
		ConditionVariablePrepareToSleep(cv);
	return listed;
}

/* The client has gone: end the session as PostgreSQL does when it notices. */
static void
mq_client_lost(void)
{
	ClientConnectionLost = true;
	InterruptPending = true;
	CHECK_FOR_INTERRUPTS();
}

/*
 * Sleep on cv for at most timeout ms; true if a broadcast may have come.
 * With a client connection, also wake when the client's socket closes.
 */
static bool
mq_cv_sleep(ConditionVariable *cv, long timeout)
{
	if (!mq_cv_still_waiting(cv))
		return true;

	if (MyProcPort != NULL && FeBeWaitSet != NULL &&
		whereToSendOutput == DestRemote && WaitEventSetCanReportClosed())
	{
		WaitEvent	events[FeBeWaitSetNEvents];
		int			n,
					i;

		/* as pq_check_connection does; every user of the set sets it first */
		ModifyWaitEvent(FeBeWaitSet, FeBeWaitSetSocketPos, WL_SOCKET_CLOSED, NULL);
		n = WaitEventSetWait(FeBeWaitSet, timeout, events, lengthof(events),
							 PG_WAIT_EXTENSION);
		for (i = 0; i < n; i++)
		{
			if (events[i].events & WL_SOCKET_CLOSED)
				mq_client_lost();
			if (events[i].events & WL_POSTMASTER_DEATH)
				proc_exit(1);
		}
	}
	else
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	return !mq_cv_still_waiting(cv);
}

/*
 * End the session if the client has disconnected.  A waiter calls this
 * after each wake-up, before it reads, so that it never takes a lease for
 * a client that is gone.
 */
void
MqWaitCheckClient(void)
{
	if (MyProcPort != NULL && FeBeWaitSet != NULL &&
		whereToSendOutput == DestRemote && !pq_check_connection())
		mq_client_lost();
}

/*
 * Sleep until a transaction that may have changed what the waiter looks
 * for ends, or until "until", whichever comes first; spurious returns are
 * possible.  Cancel, statement_timeout, termination and the client's
 * disconnection interrupt the sleep with an error.  Returns false if the
 * wait should end early because another session waits, or is about to
 * wait, for a lock on the queue's table that conflicts with the waiter's:
 * that session, and every send queued behind it, would otherwise wait for
 * this one.
 */
bool
MqWaitSleep(TimestampTz until)
{
	Assert(waiting);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz wake;
		long		secs;
		int			usecs;
		long		timeout;

		if (wait_slot != NULL && pg_atomic_read_u32(&wait_slot->ddl) != wait_ddl)
			return false;
		if (now >= next_lock_check)
		{
			if (mq_lock_has_waiters(wait_relid, wait_lockmode))
				return false;
			next_lock_check = TimestampTzPlusMilliseconds(now, MQ_LOCK_CHECK_MS);
		}
		if (now >= until)
			return true;
		wake = Min(until, next_lock_check);

		/* round up, so that a message due at "until" is due when we wake */
		TimestampDifference(now, wake, &secs, &usecs);
		timeout = secs * 1000 + (usecs + 999) / 1000;
		if (timeout <= 0)
			timeout = 1;

		if (wakeup_shared != NULL)
		{
			if (mq_cv_sleep(&wait_slot->cv, timeout))
				return true;
			/* a timeout, or a latch set for something else: sleep on */
		}
		else
		{
			/* no shared memory: poll, backing off while nothing comes */
			if (timeout > poll_ms)
				timeout = poll_ms;
			poll_ms = Min(poll_ms * 2, MQ_POLL_MAX_MS);
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			return true;
		}
	}
}

void
MqWaitEnd(void)
{
	mq_wait_reset();
}
