/*-------------------------------------------------------------------------
 *
 * rate.c
 *	  The rate limit of queues: a token bucket per queue, shared by every
 *	  session of the server.
 *
 * A queue with rate_limit r > 0 has a bucket that holds at most r tokens
 * (a burst of one second's worth) and gains r tokens a second.  A read or
 * pop of qty messages takes min(qty, whole tokens) first and reads at most
 * that many; what it did not find it gives back.  So deliveries over any
 * interval t stay within r * t + r.  A bucket starts full.  A change of the
 * limit applies at the next call (the bucket keeps its tokens, capped at
 * the new limit).  A queue dropped and created again under its name starts
 * with a full bucket.
 *
 * With shared_preload_libraries, the buckets are in a shared hash table
 * keyed by database and queue name, with room for MQ_RATE_QUEUES queues;
 * entries are never removed (a queue dropped and created again under its
 * name reuses its entry).  Locking: one LWLock (tranche "mq rate") guards
 * the table; a call holds it exclusively for a lookup and a few additions,
 * and never while it does anything else.  Without preload, or when the
 * shared table is full, each session keeps buckets of its own, so the
 * limit applies per session (docs/reference.md says so).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mq.h"

/* the queues with a rate limit the shared table has room for */
#define MQ_RATE_QUEUES	1024

typedef struct MqRateKey
{
	Oid			dboid;
	char		name[MQ_NAME_MAXLEN + 1];
} MqRateKey;

typedef struct MqRateBucket
{
	MqRateKey	key;
	Oid			relid;			/* the queue's live table: a new queue starts full */
	double		tokens;
	TimestampTz updated;		/* when tokens was last brought up to date */
} MqRateBucket;

static HTAB *shared_buckets = NULL;
static LWLock *rate_lock = NULL;
static HTAB *local_buckets = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
mq_rate_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(hash_estimate_size(MQ_RATE_QUEUES, sizeof(MqRateBucket)));
	RequestNamedLWLockTranche("mq rate", 1);
}

static void
mq_rate_shmem_startup(void)
{
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	info.keysize = sizeof(MqRateKey);
	info.entrysize = sizeof(MqRateBucket);
	shared_buckets = ShmemInitHash("mq rate buckets", MQ_RATE_QUEUES, MQ_RATE_QUEUES,
								   &info, HASH_ELEM | HASH_BLOBS);
	rate_lock = &(GetNamedLWLockTranche("mq rate"))->lock;
	LWLockRelease(AddinShmemInitLock);
}

void
MqRateInit(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mq_rate_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mq_rate_shmem_startup;
}

/*
 * The queue's bucket, brought up to now; NULL if the shared table is full.
 * With shared, the caller holds rate_lock exclusively.
 */
static MqRateBucket *
mq_rate_bucket(MqQueue *queue, bool shared, TimestampTz now)
{
	MqRateKey	key;
	MqRateBucket *b;
	bool		found;
	double		rate = queue->rate_limit;

	memset(&key, 0, sizeof(key));
	key.dboid = MyDatabaseId;
	strlcpy(key.name, queue->name, sizeof(key.name));
	if (shared)
		b = hash_search(shared_buckets, &key, HASH_ENTER_NULL, &found);
	else
	{
		if (local_buckets == NULL)
		{
			HASHCTL		info;

			info.keysize = sizeof(MqRateKey);
			info.entrysize = sizeof(MqRateBucket);
			info.hcxt = TopMemoryContext;
			local_buckets = hash_create("mq rate buckets", 16, &info,
										HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		b = hash_search(local_buckets, &key, HASH_ENTER, &found);
	}
	if (b == NULL)
		return NULL;
	if (!found || b->relid != queue->relid)
	{
		b->relid = queue->relid;
		b->tokens = rate;
		b->updated = now;
	}
	else if (now > b->updated)
	{
		b->tokens += (double) (now - b->updated) / USECS_PER_SEC * rate;
		b->updated = now;
	}
	else if (now < b->updated)
		b->updated = now;		/* the clock went back */
	if (b->tokens > rate)
		b->tokens = rate;
	return b;
}

/*
 * Take up to qty tokens from the queue's bucket; returns how many.  When
 * none, *next is when the next one comes.
 */
int32
MqRateTake(MqQueue *queue, int32 qty, TimestampTz *next)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		shared = shared_buckets != NULL;
	MqRateBucket *b;
	int32		taken = 0;

	*next = DT_NOEND;
	if (shared)
		LWLockAcquire(rate_lock, LW_EXCLUSIVE);
	b = mq_rate_bucket(queue, shared, now);
	if (b == NULL)
	{
		LWLockRelease(rate_lock);
		shared = false;
		b = mq_rate_bucket(queue, false, now);
	}
	if (b->tokens >= 1.0)
	{
		taken = (int32) Min((double) qty, b->tokens);
		b->tokens -= taken;
	}
	else
		*next = now + (TimestampTz) ((1.0 - b->tokens) * USECS_PER_SEC /
									 queue->rate_limit) + 1;
	if (shared)
		LWLockRelease(rate_lock);
	return taken;
}

/* Give back tokens taken and not used (fewer messages than tokens). */
void
MqRateReturn(MqQueue *queue, int32 unused)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		shared = shared_buckets != NULL;
	MqRateBucket *b;

	if (shared)
		LWLockAcquire(rate_lock, LW_EXCLUSIVE);
	b = mq_rate_bucket(queue, shared, now);
	if (b == NULL)
	{
		LWLockRelease(rate_lock);
		shared = false;
		b = mq_rate_bucket(queue, false, now);
	}
	b->tokens = Min(b->tokens + unused, (double) queue->rate_limit);
	if (shared)
		LWLockRelease(rate_lock);
}
