/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Statistics of queues, streams and topics in shared memory (the view
 *	  mq_stats, mq_stats_reset) and the sessions consuming each queue
 *	  (mq_consumers).
 *
 * What is counted.  Every function that changes a queue records what it
 * did in a backend-local list of pending deltas, one record per object and
 * subtransaction nesting level: messages sent, delivered, acked, nacked,
 * dead-lettered and found expired, and the samples of the latency
 * histograms: the wait of each message delivered for the first time (on
 * its attempt 1), measured by the read or pop that returns it, from when
 * it became readable (its visible_at before the read: the send time plus
 * its delay, or when it became its group's head if later) to the clock at
 * the end of that statement; and, for the delay, the enqueued_at of each
 * message acked or popped.  A read or pop that takes a message whose lease
 * had expired counts that lease as expired, as does the worker when it
 * dead-letters a message whose last lease expired.  Reads and pops learn
 * both from their last condition on each message they take (PICKED in
 * stmt.c), which calls mq_stats_picked with the message as it was before
 * the statement: attempt, visible_at, lease_expires_at (not NULL only on a
 * lease that has run out).  It notes them, by msg_id, in a backend-local
 * list that the caller's MqStatsDelivered then matches with the rows the
 * statement returned; a message rechecked after a concurrent update
 * (EvalPlanQual, at once after its first test) is noted as rechecked, and
 * one noted but not returned (the recheck failed) counts not at all.  So
 * counting adds no statement, no scan and no join.  (The reads of a queue
 * whose tables are still shaped as in 0.1 note nothing: there is no view of
 * the figures before ALTER EXTENSION mq UPDATE.)  Streams: appends count as sent; the records a consume returns as
 * delivered and acked, with a delay from their appended_at.  Topics: each
 * publish counts as sent (and each copy as sent to its queue).
 *
 * Nothing touches shared memory then.  When the transaction commits
 * (XACT_EVENT_COMMIT, after it has left the ProcArray, where nothing may
 * fail), the records are added to the shared entries of their objects:
 * the waits as measured (time the reading transaction stays open after
 * the read is no part of them), the delays from the times noted to the
 * commit time.  When the transaction aborts, or
 * is prepared, the records are thrown away; when a subtransaction aborts,
 * the records of its level and deeper are thrown away, and when one
 * commits, its records move to the parent's level.  So only committed work
 * is counted, and rolled-back work never.
 *
 * Shared memory.  A hash table of at most mq.stats_max_queues entries,
 * keyed by database, kind of object ('q' queue, 's' stream, 't' topic) and
 * name; each entry holds the counters since the last reset, a ring of 60
 * one-second buckets of sends and acks (the rates over the last minute),
 * and five one-minute histograms of each latency (the percentiles over the
 * current minute and the four before it).  A histogram has four buckets per power of two of
 * microseconds (a bucket spans at most 25% of its lower bound; a percentile
 * is reported as the middle of its bucket, within 12.5% of the true value),
 * from 1 microsecond to 2^40 (about 12.7 days); longer latencies count in
 * the last bucket.  An entry also remembers the OID of the queue's live
 * table (a stream's record table; none for a topic), so that a queue
 * dropped without mq_drop (DROP EXTENSION) and created again starts from
 * zero.  A second array, one slot per backend, says which queue (or
 * stream) the backend waits on and which queues it holds leases on
 * (mq_consumers, waiting_readers).
 *
 * Locking protocol (as in pg_stat_statements).  The LWLock of the named
 * tranche "mq_stats" protects the hash table's structure: it is held in
 * shared mode to look entries up and to read or change their contents, and
 * in exclusive mode to add or remove entries.  Each entry's counters are
 * protected by its own spinlock (held for a few dozen instructions: no
 * function calls, no allocation), so that committing backends that share
 * the LWLock can update the same entry.  A committing transaction takes the
 * LWLock once per queue it changed, in shared mode unless the queue has no
 * entry yet; when the table is full, the entry changed least recently is
 * evicted to make room.  A backend remembers the entries it used last and,
 * holding the LWLock, checks that such an entry still has its key before it
 * uses it without a hash lookup (elements of a shared hash table are reused,
 * never freed, and keys change only under the exclusive lock).  A backend slot is written only by its own
 * backend, under the slot's spinlock, and read by others under the same
 * spinlock; a slot whose pid is no longer the pid of its PGPROC is ignored.
 *
 * Without shared_preload_libraries there is no shared memory: nothing is
 * recorded, mq_stats and mq_consumers are empty and mq_stats_reset does
 * nothing.  Work done in a prepared transaction is not counted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_stats_rows);
PG_FUNCTION_INFO_V1(mq_stats_reset);
PG_FUNCTION_INFO_V1(mq_consumers_rows);

#define MQ_RATE_SECONDS		60
#define MQ_HIST_MINUTES		5
/* four buckets per power of two of microseconds, up to 2^40 */
#define MQ_HIST_BUCKETS		160
/* queues a backend remembers holding leases on */
#define MQ_LEASE_QUEUES		4

/* the kinds of objects counted: MQ_KIND_QUEUE, MQ_KIND_STREAM and topics */
#define MQ_KIND_TOPIC		't'

typedef struct MqStatsKey
{
	Oid			dbid;
	char		kind;
	char		name[MQ_NAME_MAXLEN + 1];
} MqStatsKey;

typedef struct MqStatsEntry
{
	MqStatsKey	key;			/* hash key: must be first */
	slock_t		mutex;			/* protects everything below */
	Oid			relid;			/* the queue's live table when counted */
	int64		counts[MQ_STAT_NCOUNTERS];
	TimestampTz stats_reset;	/* when counting (re)started */
	TimestampTz last_used;		/* last commit that changed the entry */
	int64		rate_second[MQ_RATE_SECONDS];
	uint32		rate_sent[MQ_RATE_SECONDS];
	uint32		rate_acked[MQ_RATE_SECONDS];
	int64		hist_minute[MQ_HIST_MINUTES];
	uint32		wait_hist[MQ_HIST_MINUTES][MQ_HIST_BUCKETS];
	uint32		delay_hist[MQ_HIST_MINUTES][MQ_HIST_BUCKETS];
} MqStatsEntry;

typedef struct MqStatsLease
{
	char		name[MQ_NAME_MAXLEN + 1];	/* "" when unused */
	Oid			relid;			/* the queue's live table */
	TimestampTz since;			/* first read of the current run of leases */
	TimestampTz until;			/* latest lease end */
	int64		leased;			/* read, not yet acked or nacked by us */
} MqStatsLease;

typedef struct MqStatsBackend
{
	slock_t		mutex;
	int			pid;			/* 0 when never used */
	Oid			dbid;
	char		appname[NAMEDATALEN];
	char		wait_name[MQ_NAME_MAXLEN + 1];	/* "" when not waiting */
	TimestampTz wait_since;
	MqStatsLease leases[MQ_LEASE_QUEUES];
} MqStatsBackend;

typedef struct MqStatsShared
{
	LWLock	   *lock;
	int			nbackends;
	MqStatsBackend backends[FLEXIBLE_ARRAY_MEMBER];
} MqStatsShared;

/* What the current transaction did to one object at one nesting level. */
typedef struct MqStatsPending
{
	char		name[MQ_NAME_MAXLEN + 1];
	char		kind;
	Oid			relid;
	int			level;
	bool		dropped;
	int64		counts[MQ_STAT_NCOUNTERS];
	int64		leased;
	TimestampTz lease_until;
	int			nwait,
				maxwait;
	int64	   *wait_usecs;		/* waits of first deliveries, measured at read */
	int			ndelay,
				maxdelay;
	TimestampTz *delay_from;	/* enqueued_at (appended_at) of acked messages */
} MqStatsPending;

/* A message as a read or pop found it (mq_stats_picked). */
typedef struct MqStatsPicked
{
	int64		msg_id;
	TimestampTz visible_at;
	bool		expired;		/* its lease had run out */
	bool		first;			/* never delivered before (attempt 0) */
} MqStatsPicked;

/* GUCs */
bool		mq_stats_enabled = true;
int			mq_stats_max_queues = 1000;
int			mq_metrics_exact_limit = 100000;

static MqStatsShared *stats_shared = NULL;
static HTAB *stats_hash = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * The records of the current transaction: pending[0 .. npending - 1].  The
 * records (and the array) are kept for the next transaction, up to nalloc,
 * so that a transaction allocates nothing; the latency samples are in
 * pending_cxt, reset after a transaction that took any.
 */
static MqStatsPending **pending = NULL;
static int	npending = 0;
static int	nalloc = 0;
static int	maxpending = 0;
static MqStatsPending *last_pending = NULL;
static MemoryContext pending_cxt = NULL;
static bool samples_taken = false;

/* the messages noted by the current read or pop */
static MqStatsPicked *picked = NULL;
static int	npicked = 0;
static int	maxpicked = 0;

/*
 * The shared entries this backend used last, so that a commit need not
 * hash the key.  Elements of a shared hash table are never freed, only
 * reused, so a cached pointer always points at an entry; it is ours if its
 * key is still our key, which cannot change while we hold the LWLock.
 */
#define MQ_ENTRY_CACHE		8
static MqStatsEntry *entry_cache[MQ_ENTRY_CACHE];
static int	entry_cache_next = 0;

static Size
mq_stats_shmem_size(void)
{
	Size		size;

	size = add_size(offsetof(MqStatsShared, backends),
					mul_size(MaxBackends, sizeof(MqStatsBackend)));
	size = add_size(size, hash_estimate_size(mq_stats_max_queues,
											 sizeof(MqStatsEntry)));
	return size;
}

static void
mq_stats_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(mq_stats_shmem_size());
	RequestNamedLWLockTranche("mq_stats", 1);
}

static void
mq_stats_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats_shared = ShmemInitStruct("mq stats",
								   offsetof(MqStatsShared, backends) +
								   MaxBackends * sizeof(MqStatsBackend),
								   &found);
	if (!found)
	{
		int			i;

		stats_shared->lock = &(GetNamedLWLockTranche("mq_stats"))->lock;
		stats_shared->nbackends = MaxBackends;
		for (i = 0; i < MaxBackends; i++)
		{
			memset(&stats_shared->backends[i], 0, sizeof(MqStatsBackend));
			SpinLockInit(&stats_shared->backends[i].mutex);
		}
	}
	info.keysize = sizeof(MqStatsKey);
	info.entrysize = sizeof(MqStatsEntry);
	stats_hash = ShmemInitHash("mq stats hash", mq_stats_max_queues,
							   mq_stats_max_queues, &info,
							   HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

/* The histogram bucket of a latency in microseconds; see the file header. */
static inline int
mq_hist_bucket(int64 usecs)
{
	int			msb;
	int			b;

	if (usecs < 4)
		return usecs < 0 ? 0 : (int) usecs;
	msb = pg_leftmost_one_pos64((uint64) usecs);
	b = 4 * (msb - 1) + (int) ((usecs >> (msb - 2)) & 3);
	return Min(b, MQ_HIST_BUCKETS - 1);
}

/* The middle of a bucket, in microseconds. */
static double
mq_hist_value(int b)
{
	int			shift;

	if (b < 4)
		return b;
	shift = b / 4 - 1;
	return ((double) (4 + b % 4) + 0.5) * (double) ((int64) 1 << shift);
}

/* ---- what a transaction does: pending records --------------------------- */

static MqStatsPending *
mq_pending_of(char kind, const char *name, Oid relid)
{
	int			level = GetCurrentTransactionNestLevel();
	MqStatsPending *p;
	int			i;

	if (last_pending != NULL && last_pending->level == level &&
		last_pending->relid == relid && last_pending->kind == kind &&
		strcmp(last_pending->name, name) == 0)
		return last_pending;
	for (i = 0; i < npending; i++)
	{
		p = pending[i];
		if (p->level == level && p->relid == relid && p->kind == kind &&
			strcmp(p->name, name) == 0)
			return last_pending = p;
	}

	if (npending == nalloc)
	{
		if (nalloc == maxpending)
		{
			int			newmax = Max(8, maxpending * 2);

			pending = pending == NULL ?
				MemoryContextAlloc(TopMemoryContext, newmax * sizeof(MqStatsPending *)) :
				repalloc(pending, newmax * sizeof(MqStatsPending *));
			maxpending = newmax;
		}
		pending[nalloc++] = MemoryContextAlloc(TopMemoryContext, sizeof(MqStatsPending));
	}
	p = pending[npending];
	memset(p, 0, sizeof(MqStatsPending));
	strlcpy(p->name, name, sizeof(p->name));
	p->kind = kind;
	p->relid = relid;
	p->level = level;
	npending++;
	return last_pending = p;
}

/* The record of a queue or stream. */
static inline MqStatsPending *
mq_pending(MqQueue *queue)
{
	return mq_pending_of(queue->kind, queue->name, queue->relid);
}

static void
mq_pending_push(int64 **arr, int *n, int *max, int64 value)
{
	if (*n == *max)
	{
		int			newmax = Max(16, *max * 2);

		if (pending_cxt == NULL)
			pending_cxt = AllocSetContextCreate(TopMemoryContext, "mq stats samples",
												ALLOCSET_SMALL_SIZES);
		samples_taken = true;
		*arr = *arr == NULL ?
			MemoryContextAlloc(pending_cxt, newmax * sizeof(int64)) :
			repalloc(*arr, newmax * sizeof(int64));
		*max = newmax;
	}
	(*arr)[(*n)++] = value;
}

static inline bool
mq_stats_active(void)
{
	return stats_shared != NULL && mq_stats_enabled;
}

/*
 * n messages sent to queue (mq_send, mq_send_batch, a copy published), or
 * n records appended to a stream.
 */
void
MqStatsSent(MqQueue *queue, uint64 n)
{
	if (!mq_stats_active() || n == 0)
		return;
	mq_pending(queue)->counts[MQ_STAT_SENT] += n;
}

PG_FUNCTION_INFO_V1(mq_stats_picked);

/*
 * mq.stats_picked(msg_id, attempt, visible_at, lease_expires_at): the last
 * condition of reads and pops (PICKED in stmt.c), true, called with each
 * message they take as it was before the statement.  Notes it for
 * MqStatsDelivered.  Not STRICT: lease_expires_at is NULL but on a lease.
 */
Datum
mq_stats_picked(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1) && !PG_ARGISNULL(2))
		MqStatsPick(PG_GETARG_INT64(0), PG_GETARG_INT32(1),
					PG_GETARG_TIMESTAMPTZ(2), !PG_ARGISNULL(3));
	PG_RETURN_BOOL(true);
}

/*
 * Note a message a read or pop takes, as it was before: what
 * mq_stats_picked does for the statements of stmt.c, for the direct read
 * (direct.c).  expired: it was on a lease that had run out.
 */
void
MqStatsPick(int64 msg_id, int32 attempt, TimestampTz visible_at, bool expired)
{
	MqStatsPicked *m;

	if (!mq_stats_active())
		return;
	if (npicked == maxpicked)
	{
		/* what a failed recheck left is dropped rather than kept growing */
		if (maxpicked >= 2 * MQ_MAX_QTY)
			npicked = 0;
		else
		{
			int			newmax = Max(16, maxpicked * 2);

			picked = picked == NULL ?
				MemoryContextAlloc(TopMemoryContext, newmax * sizeof(MqStatsPicked)) :
				repalloc(picked, newmax * sizeof(MqStatsPicked));
			maxpicked = newmax;
		}
	}
	/* a recheck of the message just noted (EvalPlanQual) replaces it */
	if (npicked > 0 && picked[npicked - 1].msg_id == msg_id)
		npicked--;
	m = &picked[npicked++];
	m->msg_id = msg_id;
	m->first = attempt == 0;
	m->visible_at = visible_at;
	m->expired = expired;
}

/*
 * qsort and bsearch of int64s, or of structs that start with one (by
 * msg_id: a key is an MqStatsPicked or an int64)
 */
int
MqInt64Cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * The n rows of a read (popped false) or pop (popped true) delivered
 * messages; rows holds them as mq_message (msg_id in column 1, attempt in
 * 2, enqueued_at in 3, lease_expires_at in 4).  A pop is a delivery and an
 * ack at once.  A message noted by mq_stats_picked as never delivered
 * before gives a wait sample: from when it became readable to now, the end
 * of the statement (the clock, not the commit: a transaction that keeps
 * the message after reading it adds nothing to its wait); one whose lease
 * had run out counts as an expired lease.
 */
void
MqStatsDelivered(MqQueue *queue, SPITupleTable *rows, uint64 n, bool popped)
{
	MqStatsPending *p;
	uint64		i;
	int			npicks = npicked;
	bool		sorted = false;
	TimestampTz read_at = 0;

	npicked = 0;
	if (!mq_stats_active() || n == 0)
		return;
	p = mq_pending(queue);
	p->counts[MQ_STAT_DELIVERED] += n;
	if (popped)
		p->counts[MQ_STAT_ACKED] += n;
	else
		p->leased += n;
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = rows->vals[i];
		bool		isnull;
		int64		msg_id;
		TimestampTz enqueued_at;
		MqStatsPicked *m;

		msg_id = DatumGetInt64(SPI_getbinval(tup, rows->tupdesc, 1, &isnull));
		enqueued_at = DatumGetTimestampTz(SPI_getbinval(tup, rows->tupdesc, 3, &isnull));
		/* noted in the order returned, mostly: else sort and search */
		if (i < (uint64) npicks && picked[i].msg_id == msg_id)
			m = &picked[i];
		else
		{
			if (!sorted)
			{
				qsort(picked, npicks, sizeof(MqStatsPicked), MqInt64Cmp);
				sorted = true;
			}
			m = bsearch(&msg_id, picked, npicks, sizeof(MqStatsPicked), MqInt64Cmp);
		}
		if (m != NULL && m->expired)
			p->counts[MQ_STAT_EXPIRED]++;
		else if (m != NULL && m->first)
		{
			/* the wait ends with this read, not with its commit */
			if (read_at == 0)
				read_at = GetCurrentTimestamp();
			mq_pending_push(&p->wait_usecs, &p->nwait, &p->maxwait,
							Max(0, read_at - m->visible_at));
		}
		if (popped)
			mq_pending_push(&p->delay_from, &p->ndelay, &p->maxdelay, enqueued_at);
		else
		{
			TimestampTz until = DatumGetTimestampTz(SPI_getbinval(tup, rows->tupdesc, 4, &isnull));

			if (!isnull && until > p->lease_until)
				p->lease_until = until;
		}
	}
}

/*
 * Delays to count at commit: from the timestamps in column col of the n
 * rows (enqueued_at, appended_at), if any.
 */
static void
mq_pending_delays(MqStatsPending *p, SPITupleTable *rows, uint64 n, int col)
{
	uint64		i;

	for (i = 0; rows != NULL && i < n; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(rows->vals[i], rows->tupdesc, col, &isnull);

		if (!isnull)
			mq_pending_push(&p->delay_from, &p->ndelay, &p->maxdelay,
							DatumGetTimestampTz(d));
	}
}

/* n messages acked; rows holds their enqueued_at in column col. */
void
MqStatsAcked(MqQueue *queue, SPITupleTable *rows, uint64 n, int col)
{
	MqStatsPending *p;

	if (!mq_stats_active() || n == 0)
		return;
	p = mq_pending(queue);
	p->counts[MQ_STAT_ACKED] += n;
	p->leased -= n;
	mq_pending_delays(p, rows, n, col);
}

/* One message nacked: dead-lettered (its last attempt) or to be retried. */
void
MqStatsNacked(MqQueue *queue, bool dead)
{
	MqStatsPending *p;

	if (!mq_stats_active())
		return;
	p = mq_pending(queue);
	p->counts[MQ_STAT_NACKED]++;
	p->leased--;
	if (dead)
		p->counts[MQ_STAT_DEAD_LETTERED]++;
}

/* n exhausted leases found expired and dead-lettered by the worker. */
void
MqStatsExpired(MqQueue *queue, uint64 n)
{
	MqStatsPending *p;

	if (!mq_stats_active() || n == 0)
		return;
	p = mq_pending(queue);
	p->counts[MQ_STAT_EXPIRED] += n;
	p->counts[MQ_STAT_DEAD_LETTERED] += n;
}

/*
 * A committed consume of a stream returned the n records in rows (with
 * their appended_at): delivered and acked at once, whatever the group.
 */
void
MqStatsConsumed(MqQueue *stream, SPITupleTable *rows, uint64 n)
{
	MqStatsPending *p;
	int			col;

	if (!mq_stats_active() || n == 0)
		return;
	p = mq_pending(stream);
	p->counts[MQ_STAT_DELIVERED] += n;
	p->counts[MQ_STAT_ACKED] += n;
	col = SPI_fnumber(rows->tupdesc, "appended_at");
	if (col > 0)
		mq_pending_delays(p, rows, n, col);
}

/* One message published to topic (however many copies it made). */
void
MqStatsPublished(const char *topic)
{
	if (!mq_stats_active())
		return;
	mq_pending_of(MQ_KIND_TOPIC, topic, InvalidOid)->counts[MQ_STAT_SENT]++;
}

/* queue (or stream) is being dropped: free its entry if the drop commits. */
void
MqStatsDropped(MqQueue *queue)
{
	if (stats_shared == NULL)
		return;
	mq_pending(queue)->dropped = true;
}

/* ... and a topic. */
void
MqStatsTopicDropped(const char *topic)
{
	if (stats_shared == NULL)
		return;
	mq_pending_of(MQ_KIND_TOPIC, topic, InvalidOid)->dropped = true;
}

/* ---- commit: applying the records to shared memory ---------------------- */

static void
mq_stats_key(MqStatsKey *key, char kind, const char *name)
{
	memset(key, 0, sizeof(MqStatsKey));
	key->dbid = MyDatabaseId;
	key->kind = kind;
	strlcpy(key->name, name, sizeof(key->name));
}

/* Zero an entry's figures; caller holds its spinlock or owns it alone. */
static void
mq_entry_zero(MqStatsEntry *e, TimestampTz now)
{
	memset(e->counts, 0, sizeof(e->counts));
	e->stats_reset = now;
	memset(e->rate_second, 0, sizeof(e->rate_second));
	memset(e->rate_sent, 0, sizeof(e->rate_sent));
	memset(e->rate_acked, 0, sizeof(e->rate_acked));
	memset(e->hist_minute, 0, sizeof(e->hist_minute));
	memset(e->wait_hist, 0, sizeof(e->wait_hist));
	memset(e->delay_hist, 0, sizeof(e->delay_hist));
}

/*
 * Remove an entry; caller holds the LWLock exclusively.  The element stays
 * in the table's memory, on its free list: clear its key, so that no
 * backend that remembers it takes it for its queue's.
 */
static void
mq_entry_remove(MqStatsEntry *e)
{
	MqStatsKey	key = e->key;

	hash_search(stats_hash, &key, HASH_REMOVE, NULL);
	memset(&e->key, 0, sizeof(MqStatsKey));
}

/*
 * Create the entry of key, evicting the entry changed least recently if
 * the table is full.  Caller holds the LWLock exclusively.
 */
static MqStatsEntry *
mq_entry_create(MqStatsKey *key, Oid relid, TimestampTz now)
{
	MqStatsEntry *e;
	bool		found;

	if (hash_get_num_entries(stats_hash) >= mq_stats_max_queues)
	{
		HASH_SEQ_STATUS seq;
		MqStatsEntry *victim = NULL;

		hash_seq_init(&seq, stats_hash);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			if (victim == NULL || e->last_used < victim->last_used)
				victim = e;
		}
		if (victim != NULL)
			mq_entry_remove(victim);
	}
	e = hash_search(stats_hash, key, HASH_ENTER_NULL, &found);
	if (e != NULL && !found)
	{
		SpinLockInit(&e->mutex);
		e->relid = relid;
		mq_entry_zero(e, now);
		e->last_used = now;
	}
	return e;
}

/* Add a pending record to its entry.  Caller holds the entry's spinlock. */
static inline void
mq_entry_add(MqStatsEntry *e, MqStatsPending *p, TimestampTz now)
{
	int64		second = now / USECS_PER_SEC;
	int64		minute = second / 60;
	int			rs = (int) (second % MQ_RATE_SECONDS);
	int			hs = (int) (minute % MQ_HIST_MINUTES);
	int			i;

	if (e->relid != p->relid)
	{
		/* a queue of the same name dropped and created again */
		mq_entry_zero(e, now);
		e->relid = p->relid;
	}
	for (i = 0; i < MQ_STAT_NCOUNTERS; i++)
		e->counts[i] += p->counts[i];

	if (e->rate_second[rs] != second)
	{
		e->rate_second[rs] = second;
		e->rate_sent[rs] = 0;
		e->rate_acked[rs] = 0;
	}
	e->rate_sent[rs] += (uint32) p->counts[MQ_STAT_SENT];
	e->rate_acked[rs] += (uint32) p->counts[MQ_STAT_ACKED];

	if (p->nwait > 0 || p->ndelay > 0)
	{
		if (e->hist_minute[hs] != minute)
		{
			e->hist_minute[hs] = minute;
			memset(e->wait_hist[hs], 0, sizeof(e->wait_hist[hs]));
			memset(e->delay_hist[hs], 0, sizeof(e->delay_hist[hs]));
		}
		for (i = 0; i < p->nwait; i++)
			e->wait_hist[hs][mq_hist_bucket(p->wait_usecs[i])]++;
		for (i = 0; i < p->ndelay; i++)
			e->delay_hist[hs][mq_hist_bucket(now - p->delay_from[i])]++;
	}
	e->last_used = now;
}

static MqStatsBackend *
mq_my_backend(void)
{
	if (stats_shared == NULL || MyProc == NULL ||
		MyProc->pgprocno >= stats_shared->nbackends)
		return NULL;
	return &stats_shared->backends[MyProc->pgprocno];
}

/* Claim our backend slot if it still carries a former backend's pid. */
static void
mq_backend_claim(MqStatsBackend *b)
{
	if (b->pid == MyProcPid)
		return;
	b->pid = MyProcPid;
	b->dbid = MyDatabaseId;
	b->wait_name[0] = '\0';
	memset(b->leases, 0, sizeof(b->leases));
	strlcpy(b->appname, application_name ? application_name : "", NAMEDATALEN);
}

/* Record the leases a committed transaction took or gave back. */
static void
mq_backend_leases(MqStatsPending *p, TimestampTz now)
{
	MqStatsBackend *b = mq_my_backend();
	MqStatsLease *l = NULL;
	MqStatsLease *oldest = NULL;
	int			i;

	if (b == NULL)
		return;
	SpinLockAcquire(&b->mutex);
	mq_backend_claim(b);
	for (i = 0; i < MQ_LEASE_QUEUES; i++)
	{
		MqStatsLease *x = &b->leases[i];

		if (strcmp(x->name, p->name) == 0)
			l = x;
		if (oldest == NULL || x->until < oldest->until)
			oldest = x;
	}
	if (l == NULL && p->leased > 0)
	{
		l = oldest;
		strlcpy(l->name, p->name, sizeof(l->name));
		l->relid = InvalidOid;
	}
	if (l != NULL && l->relid != p->relid)
	{
		/* a queue of the same name dropped and created again */
		l->relid = p->relid;
		l->leased = 0;
		l->until = 0;
	}
	if (l != NULL)
	{
		if (l->leased <= 0 || l->until <= now)
		{
			l->since = now;
			l->leased = 0;
			strlcpy(b->appname, application_name ? application_name : "", NAMEDATALEN);
		}
		l->leased = Max(0, l->leased + p->leased);
		l->until = Max(l->until, p->lease_until);
	}
	SpinLockRelease(&b->mutex);
}

static void
mq_stats_flush(void)
{
	/* the commit record's time, or the clock if there was none */
	TimestampTz now = GetCurrentTransactionStopTimestamp();
	int			i,
				j;

	for (i = 0; i < npending; i++)
	{
		MqStatsPending *p = pending[i];
		MqStatsKey	key;
		MqStatsEntry *e;

		mq_stats_key(&key, p->kind, p->name);
		if (p->dropped)
		{
			LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
			e = hash_search(stats_hash, &key, HASH_FIND, NULL);
			if (e != NULL)
				mq_entry_remove(e);
			LWLockRelease(stats_shared->lock);
			continue;
		}
		LWLockAcquire(stats_shared->lock, LW_SHARED);
		e = NULL;
		for (j = 0; j < MQ_ENTRY_CACHE; j++)
		{
			if (entry_cache[j] != NULL &&
				memcmp(&entry_cache[j]->key, &key, sizeof(MqStatsKey)) == 0)
			{
				e = entry_cache[j];
				break;
			}
		}
		if (e == NULL)
		{
			e = hash_search(stats_hash, &key, HASH_FIND, NULL);
			if (e == NULL)
			{
				LWLockRelease(stats_shared->lock);
				LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
				e = mq_entry_create(&key, p->relid, now);
			}
			if (e != NULL)
			{
				entry_cache[entry_cache_next] = e;
				entry_cache_next = (entry_cache_next + 1) % MQ_ENTRY_CACHE;
			}
		}
		if (e != NULL)
		{
			SpinLockAcquire(&e->mutex);
			mq_entry_add(e, p, now);
			SpinLockRelease(&e->mutex);
		}
		LWLockRelease(stats_shared->lock);
		if (p->leased != 0)
			mq_backend_leases(p, now);
	}
}

static void
mq_pending_clear(void)
{
	npending = 0;
	last_pending = NULL;
	if (samples_taken)
	{
		MemoryContextReset(pending_cxt);
		samples_taken = false;
	}
}

static void
mq_stats_xact_callback(XactEvent event, void *arg)
{
	npicked = 0;
	if (npending == 0)
		return;
	if (event == XACT_EVENT_COMMIT && stats_shared != NULL)
		mq_stats_flush();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		mq_pending_clear();
}

static void
mq_stats_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i,
				j;

	if (event == SUBXACT_EVENT_ABORT_SUB)
		npicked = 0;
	if (npending == 0)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* forget what the subtransaction (and those inside it) did */
		for (i = 0, j = 0; i < npending; i++)
		{
			if (pending[i]->level < level)
			{
				/* keep it; the dropped one goes back to the pool */
				MqStatsPending *keep = pending[i];

				pending[i] = pending[j];
				pending[j++] = keep;
			}
		}
		npending = j;
		last_pending = NULL;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		/* its records now belong to the parent */
		for (i = 0; i < npending; i++)
		{
			if (pending[i]->level >= level)
				pending[i]->level = level - 1;
		}
		last_pending = NULL;
	}
}

/* ---- waits ------------------------------------------------------------- */

/* This backend begins waiting in mq_read on queue (called by wakeup.c). */
void
MqStatsWaitBegin(MqQueue *queue)
{
	MqStatsBackend *b = mq_my_backend();

	if (b == NULL)
		return;
	SpinLockAcquire(&b->mutex);
	mq_backend_claim(b);
	strlcpy(b->wait_name, queue->name, sizeof(b->wait_name));
	b->wait_since = GetCurrentTimestamp();
	strlcpy(b->appname, application_name ? application_name : "", NAMEDATALEN);
	SpinLockRelease(&b->mutex);
}

/* ... and stops waiting (also on error); must not fail. */
void
MqStatsWaitEnd(void)
{
	MqStatsBackend *b = mq_my_backend();

	if (b == NULL || b->pid != MyProcPid || b->wait_name[0] == '\0')
		return;
	SpinLockAcquire(&b->mutex);
	b->wait_name[0] = '\0';
	SpinLockRelease(&b->mutex);
}

/* ---- setup ------------------------------------------------------------- */

void
MqStatsInit(void)
{
	DefineCustomBoolVariable("mq.stats",
							 "Counts the work done on queues in shared memory (mq_stats).",
							 "Needs shared_preload_libraries = 'mq'.",
							 &mq_stats_enabled,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("mq.metrics_exact_limit",
							"Largest count mq_metrics makes exactly; larger counts are estimated.",
							"Beyond it, ready, dead and retained are estimated from the table's statistics, as the planner does.",
							&mq_metrics_exact_limit,
							100000,
							0,
							INT_MAX - 1,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("mq.stats_max_queues",
								"Most queues whose statistics are kept in shared memory.",
								"When the table is full, the queue changed least recently is forgotten.",
								&mq_stats_max_queues,
								1000,
								16,
								1000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = mq_stats_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = mq_stats_shmem_startup;
	}
	RegisterXactCallback(mq_stats_xact_callback, NULL);
	RegisterSubXactCallback(mq_stats_subxact_callback, NULL);
}

/* ---- reporting --------------------------------------------------------- */

/*
 * May the caller of call see the figures of queue?  With any privilege on
 * it, or as a member of pg_monitor.
 */
bool
MqMayMonitor(MqCall *call, MqQueue *queue)
{
	return has_privs_of_role(call->caller, ROLE_PG_MONITOR) ||
		MqHasPrivilege(call, queue, MQ_PRIV_SEND | MQ_PRIV_READ | MQ_PRIV_MANAGE);
}

/*
 * The names of every queue, stream and topic, in order, and their kinds
 * (the catalog's: 'queue', 'stream', 'topic'); needs an MqBegin'd call.
 */
static char **
mq_queue_names(uint64 *n, char ***kinds)
{
	char	  **names;
	uint64		i;

	if (SPI_execute("SELECT queue_name, kind FROM mq.queue ORDER BY queue_name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the catalog of queues");
	*n = SPI_processed;
	names = palloc(sizeof(char *) * (*n + 1));
	*kinds = palloc(sizeof(char *) * (*n + 1));
	for (i = 0; i < *n; i++)
	{
		names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		(*kinds)[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	return names;
}

/* Copies of the backend slots of this database in use now. */
static MqStatsBackend *
mq_backends_copy(int *n)
{
	MqStatsBackend *copy = palloc(sizeof(MqStatsBackend) * stats_shared->nbackends);
	int			i;

	*n = 0;
	for (i = 0; i < stats_shared->nbackends; i++)
	{
		MqStatsBackend *b = &stats_shared->backends[i];

		if (b->pid == 0)
			continue;
		SpinLockAcquire(&b->mutex);
		copy[*n] = *b;
		SpinLockRelease(&b->mutex);
		if (copy[*n].pid == 0 || copy[*n].dbid != MyDatabaseId ||
			ProcGlobal->allProcs[i].pid != copy[*n].pid)
			continue;
		(*n)++;
	}
	return copy;
}

static Datum
mq_interval_datum(double usecs)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = (int64) usecs;
	return IntervalPGetDatum(iv);
}

/* The p-th percentile of a summed histogram, or -1 without samples. */
static double
mq_percentile(const uint64 *hist, uint64 total, double p)
{
	uint64		rank;
	uint64		seen = 0;
	int			b;

	if (total == 0)
		return -1;
	rank = (uint64) ceil(p * (double) total);
	if (rank < 1)
		rank = 1;
	for (b = 0; b < MQ_HIST_BUCKETS; b++)
	{
		seen += hist[b];
		if (seen >= rank)
			return mq_hist_value(b);
	}
	return mq_hist_value(MQ_HIST_BUCKETS - 1);
}

#define MQ_STATS_COLS 17

static void
mq_stats_row(ReturnSetInfo *rsinfo, const char *name, const char *kind,
			 MqStatsEntry *e, bool have, int waiting, TimestampTz now)
{
	Datum		values[MQ_STATS_COLS];
	bool		nulls[MQ_STATS_COLS];
	int64		second = now / USECS_PER_SEC;
	int64		minute = second / 60;
	uint64		wait[MQ_HIST_BUCKETS];
	uint64		delay[MQ_HIST_BUCKETS];
	uint64		nwait = 0,
				ndelay = 0;
	double		sent = 0,
				acked = 0,
				span;
	int			i,
				b;

	memset(nulls, 0, sizeof(nulls));
	memset(wait, 0, sizeof(wait));
	memset(delay, 0, sizeof(delay));
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(kind);
	for (i = 0; i < MQ_STAT_NCOUNTERS; i++)
		values[2 + i] = Int64GetDatum(have ? e->counts[i] : 0);
	if (have)
	{
		for (i = 0; i < MQ_RATE_SECONDS; i++)
		{
			if (e->rate_second[i] > second - MQ_RATE_SECONDS &&
				e->rate_second[i] <= second)
			{
				sent += e->rate_sent[i];
				acked += e->rate_acked[i];
			}
		}
		for (i = 0; i < MQ_HIST_MINUTES; i++)
		{
			if (e->hist_minute[i] <= minute - MQ_HIST_MINUTES ||
				e->hist_minute[i] > minute)
				continue;
			for (b = 0; b < MQ_HIST_BUCKETS; b++)
			{
				wait[b] += e->wait_hist[i][b];
				delay[b] += e->delay_hist[i][b];
				nwait += e->wait_hist[i][b];
				ndelay += e->delay_hist[i][b];
			}
		}
	}
	/* the last minute, or the time since counting began if shorter */
	span = have ? (double) (second - e->stats_reset / USECS_PER_SEC + 1) : 1;
	span = Max(1, Min(MQ_RATE_SECONDS, span));
	values[8] = Float8GetDatum(sent / span);
	values[9] = Float8GetDatum(acked / span);
	{
		double		pv[5];

		pv[0] = mq_percentile(wait, nwait, 0.50);
		pv[1] = mq_percentile(wait, nwait, 0.99);
		pv[2] = mq_percentile(delay, ndelay, 0.50);
		pv[3] = mq_percentile(delay, ndelay, 0.95);
		pv[4] = mq_percentile(delay, ndelay, 0.99);
		for (i = 0; i < 5; i++)
		{
			nulls[10 + i] = pv[i] < 0;
			if (pv[i] >= 0)
				values[10 + i] = mq_interval_datum(pv[i]);
		}
	}
	values[15] = Int32GetDatum(waiting);
	nulls[16] = !have;
	if (have)
		values[16] = TimestampTzGetDatum(e->stats_reset);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * May the caller of call see the figures of the topic of that name?  With
 * any privilege on it, or as a member of pg_monitor.  False if there is no
 * such topic (any longer).
 */
static bool
mq_may_monitor_topic(MqCall *call, const char *name)
{
	MqTopic    *topic = MqTopicLookup(call, name);

	return topic != NULL &&
		(has_privs_of_role(call->caller, ROLE_PG_MONITOR) ||
		 MqTopicHasPrivilege(call, topic, MQ_PRIV_SEND | MQ_PRIV_READ | MQ_PRIV_MANAGE));
}

/*
 * The rows of view mq_stats: one per queue, stream and topic the caller may
 * monitor, with zeros for one nothing was counted for yet.  Empty without
 * preload.
 */
Datum
mq_stats_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	MqCall		call;
	char	  **names;
	char	  **kinds;
	uint64		n,
				i;
	MqStatsBackend *backends;
	int			nbackends;
	MqStatsEntry *e = palloc(sizeof(MqStatsEntry));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (stats_shared == NULL)
		return (Datum) 0;

	MqBegin(&call, NULL, 0, false);
	names = mq_queue_names(&n, &kinds);
	backends = mq_backends_copy(&nbackends);
	for (i = 0; i < n; i++)
	{
		MqQueue    *queue = NULL;
		MqStatsKey	key;
		MqStatsEntry *shared;
		bool		have = false;
		int			waiting = 0;
		Oid			relid = InvalidOid;
		char		kind;
		int			j;

		if (strcmp(kinds[i], "topic") == 0)
		{
			if (!mq_may_monitor_topic(&call, names[i]))
				continue;
			kind = MQ_KIND_TOPIC;
		}
		else
		{
			queue = MqLookup(&call, names[i], true);
			if (queue == NULL || !MqMayMonitor(&call, queue))
				continue;
			kind = queue->kind;
			relid = queue->relid;
		}
		mq_stats_key(&key, kind, names[i]);
		LWLockAcquire(stats_shared->lock, LW_SHARED);
		shared = hash_search(stats_hash, &key, HASH_FIND, NULL);
		if (shared != NULL)
		{
			SpinLockAcquire(&shared->mutex);
			memcpy(e, shared, sizeof(MqStatsEntry));
			SpinLockRelease(&shared->mutex);
			have = (e->relid == relid);
		}
		LWLockRelease(stats_shared->lock);
		for (j = 0; queue != NULL && j < nbackends; j++)
		{
			if (strcmp(backends[j].wait_name, queue->name) == 0)
				waiting++;
		}
		mq_stats_row(rsinfo, names[i], kinds[i], e, have, waiting, now);
	}
	MqEnd(&call);
	return (Datum) 0;
}

/*
 * Forget the figures of one queue, stream or topic (needs manage on it) or
 * of every one of the database (NULL: superuser).
 */
Datum
mq_stats_reset(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTimestamp();
	MqCall		call;
	char	   *name = NULL;

	if (PG_ARGISNULL(0))
	{
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to reset the statistics of every queue"),
					 errhint("Only a superuser may; reset one queue with mq_stats_reset(queue).")));
	}
	else
	{
		name = MqArgQueueName(fcinfo, 0);
		MqBegin(&call, NULL, 0, true);
		(void) MqCheckManage(&call, name);
	}

	if (stats_shared != NULL)
	{
		HASH_SEQ_STATUS seq;
		MqStatsEntry *e;

		LWLockAcquire(stats_shared->lock, LW_SHARED);
		hash_seq_init(&seq, stats_hash);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			if (e->key.dbid != MyDatabaseId)
				continue;
			/* one name is never two objects at once: any kind */
			if (name != NULL && strcmp(e->key.name, name) != 0)
				continue;
			SpinLockAcquire(&e->mutex);
			mq_entry_zero(e, now);
			SpinLockRelease(&e->mutex);
		}
		LWLockRelease(stats_shared->lock);
	}
	if (name != NULL)
		MqEnd(&call);
	PG_RETURN_VOID();
}

/*
 * The rows of view mq_consumers: sessions of this database waiting in
 * mq_read on a queue, or holding leases on it, for the queues the caller
 * may monitor.
 */
Datum
mq_consumers_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	MqCall		call;
	MqStatsBackend *backends;
	int			nbackends;
	int			i,
				j;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (stats_shared == NULL)
		return (Datum) 0;

	MqBegin(&call, NULL, 0, false);
	backends = mq_backends_copy(&nbackends);
	for (i = 0; i < nbackends; i++)
	{
		MqStatsBackend *b = &backends[i];

		for (j = -1; j < MQ_LEASE_QUEUES; j++)
		{
			const char *name;
			MqQueue    *queue;
			Datum		values[7];
			bool		nulls[7];

			memset(nulls, 0, sizeof(nulls));
			if (j < 0)
			{
				if (b->wait_name[0] == '\0')
					continue;
				name = b->wait_name;
			}
			else
			{
				MqStatsLease *l = &b->leases[j];

				if (l->name[0] == '\0' || l->leased <= 0 || l->until <= now)
					continue;
				name = l->name;
			}
			queue = MqLookup(&call, name, true);
			if (queue == NULL || !MqMayMonitor(&call, queue) ||
				(j >= 0 && b->leases[j].relid != queue->relid))
				continue;
			values[0] = CStringGetTextDatum(name);
			values[1] = Int32GetDatum(b->pid);
			values[2] = CStringGetTextDatum(b->appname);
			if (j < 0)
			{
				values[3] = CStringGetTextDatum("waiting");
				values[4] = TimestampTzGetDatum(b->wait_since);
				nulls[5] = nulls[6] = true;
			}
			else
			{
				values[3] = CStringGetTextDatum("leasing");
				values[4] = TimestampTzGetDatum(b->leases[j].since);
				values[5] = Int64GetDatum(b->leases[j].leased);
				values[6] = TimestampTzGetDatum(b->leases[j].until);
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	MqEnd(&call);
	return (Datum) 0;
}
