/*-------------------------------------------------------------------------
 *
 * due.c
 *	  Hints to the worker of the queues that may have work for it.
 *
 * A worker need not look at a queue again until the time it found for the
 * queue's next last lease or retention end, unless a transaction has since
 * made new work there: leased a message on its last attempt, retained an
 * acked message, or changed the queue's options.  Those transactions mark
 * the queue (MqDueTouch) and, when they commit, add one to the counter of
 * its slot in shared memory; the worker reads the counter of each queue's
 * slot before it looks at the queue and looks again whenever it has moved.
 * This is what lets a worker of a database with thousands of idle queues
 * sleep instead of querying each of them every pass (docs/workers.md).
 *
 * Queues are hashed, with their database, onto MQ_DUE_SLOTS counters; two
 * queues on one slot only cost each other a needless look.  A transaction
 * keeps the slots it marked in a bitmap and adds to their counters in its
 * commit callback, which runs once the commit is visible to new snapshots:
 * a worker that reads the counter before it takes its snapshot therefore
 * either sees the new work or sees the counter move at its next pass.
 * Marks of a transaction that aborts, or of a subtransaction that rolled
 * back, cost at most a needless look.  A prepared transaction adds to the
 * counters when it is prepared, which may come before its commit; the
 * worker's slow round of every queue (worker.c) finds that work later.
 *
 * The counters need shared memory, which exists only with mq in
 * shared_preload_libraries; without it a worker looks at every queue every
 * pass.  Counters are atomics: no lock is taken.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "mq.h"

#define MQ_DUE_SLOTS		1024

typedef struct MqDueShared
{
	pg_atomic_uint32 changes[MQ_DUE_SLOTS];
} MqDueShared;

static MqDueShared *due_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* the slots this transaction marked */
static uint64 pending[MQ_DUE_SLOTS / 64];
static bool pending_any = false;

static void
mq_due_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(MqDueShared)));
}

static void
mq_due_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	due_shared = ShmemInitStruct("mq due", sizeof(MqDueShared), &found);
	if (!found)
	{
		int			i;

		for (i = 0; i < MQ_DUE_SLOTS; i++)
			pg_atomic_init_u32(&due_shared->changes[i], 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
mq_due_xact_callback(XactEvent event, void *arg)
{
	int			i;

	if (!pending_any)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			for (i = 0; i < MQ_DUE_SLOTS; i++)
			{
				if (pending[i / 64] & (UINT64CONST(1) << (i % 64)))
					pg_atomic_fetch_add_u32(&due_shared->changes[i], 1);
			}
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
			memset(pending, 0, sizeof(pending));
			pending_any = false;
			break;
		default:
			break;
	}
}

void
MqDueInit(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = mq_due_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = mq_due_shmem_startup;
	}
	RegisterXactCallback(mq_due_xact_callback, NULL);
}

/* Are there counters to read (is mq preloaded)? */
bool
MqDueAvailable(void)
{
	return due_shared != NULL;
}

uint32
MqDueSlot(Oid dboid, const char *name)
{
	return hash_combine(hash_bytes_uint32(dboid),
						hash_bytes((const unsigned char *) name, strlen(name))) % MQ_DUE_SLOTS;
}

uint32
MqDueChanges(uint32 slot)
{
	Assert(due_shared != NULL && slot < MQ_DUE_SLOTS);
	return pg_atomic_read_u32(&due_shared->changes[slot]);
}

/* This transaction made work for the worker on queue. */
void
MqDueTouch(MqQueue *queue)
{
	uint32		slot;

	if (due_shared == NULL)
		return;
	slot = MqDueSlot(MyDatabaseId, queue->name);
	pending[slot / 64] |= UINT64CONST(1) << (slot % 64);
	pending_any = true;
}
