/*-------------------------------------------------------------------------
 *
 * mq.h
 *	  Declarations shared by the files of the mq extension.
 *
 * Each queue is three ordinary tables in the internal schema "mq":
 * q_<name> (live messages), d_<name> (dead letters) and a_<name> (acked
 * messages kept for the retention period).  The catalog table mq.queue
 * holds one row per queue with its options.  See docs/design.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_H
#define MQ_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/timestamp.h"

#define MQ_SCHEMA				"mq"
#define MQ_NAME_MAXLEN			48
/* largest qty accepted by mq_read, mq_pop and mq_dead */
#define MQ_MAX_QTY				10000
/* most parameters of any statement in stmt.c */
#define MQ_MAX_ARGS				10

/* the priority levels of a queue that get a scan floor of their own */
#define MQ_MAX_LEVELS			16
/* longest error kept by mq_nack, in bytes; longer ones are truncated */
#define MQ_MAX_ERROR_LEN		8192
/* longest group_id and dedup_key, in characters */
#define MQ_KEY_MAXLEN			128
/* largest max_attempts accepted by mq_create and mq_alter */
#define MQ_MAX_ATTEMPTS			1000
/* intervals above this (100 years) are rejected, which keeps arithmetic safe */
#define MQ_MAX_INTERVAL_USECS	(INT64CONST(36525) * USECS_PER_DAY)

/* GUCs (mq.c, wakeup.c) */
extern int	mq_max_message_size;
extern int	mq_max_wait;
extern int	mq_wait_slots;
extern bool mq_worker_enabled;
extern int	mq_worker_naptime;
extern int	mq_worker_batch_size;
extern int	mq_launcher_naptime;
extern int	mq_vacuum_threshold;
extern double mq_vacuum_scale_factor;

/* Privileges a role may hold on a queue (the owner holds them all). */
typedef enum MqPrivilege
{
	MQ_PRIV_SEND = 1 << 0,
	MQ_PRIV_READ = 1 << 1,
	MQ_PRIV_MANAGE = 1 << 2
} MqPrivilege;

/*
 * Passed to MqBegin with a privilege by the functions that work on every
 * kind of object (mq_drop, mq_grant, mq_revoke, mq_metrics, mq_alter);
 * without it MqBegin refuses an object that is not a queue (42809).
 */
#define MQ_ANY_KIND				(1 << 8)

/*
 * Passed to MqBegin (with MQ_ANY_KIND) by the stream functions: a denial
 * speaks of a stream, whatever the object of that name is.
 */
#define MQ_STREAM_CALL			(1 << 9)
#define MQ_PRIV_MASK			(MQ_PRIV_SEND | MQ_PRIV_READ | MQ_PRIV_MANAGE)

/* The kinds of objects in mq.queue (column kind, 0.2). */
#define MQ_KIND_QUEUE			'q'
#define MQ_KIND_STREAM			's'


/*
 * The prepared statements of a queue.  Their SQL lives in stmt.c; each is
 * prepared the first time a backend uses it on a queue and kept until the
 * queue's cache entry is invalidated.
 */
typedef enum MqStmt
{
	MQ_STMT_SEND,
	MQ_STMT_SEND_BATCH,
	MQ_STMT_PUBLISH,
	MQ_STMT_READ,
	MQ_STMT_READ_DUE,
	MQ_STMT_READ_ONE,
	MQ_STMT_POP,
	MQ_STMT_POP_ONE,
	MQ_STMT_POP_RETAIN,
	MQ_STMT_POP_ONE_RETAIN,
	MQ_STMT_ACK,
	MQ_STMT_ACK_RETAIN,
	MQ_STMT_ACK_IDS,
	MQ_STMT_ACK_IDS_RETAIN,
	MQ_STMT_NACK_LOCK,
	MQ_STMT_NACK_RETRY,
	MQ_STMT_NACK_DEAD,
	MQ_STMT_EXTEND,
	MQ_STMT_DEAD,
	MQ_STMT_REDRIVE,
	MQ_STMT_STATUS,
	MQ_STMT_METRICS,
	MQ_STMT_PURGE,
	MQ_STMT_EXPIRE,
	MQ_STMT_RETENTION,
	MQ_STMT_WORKER_DUE,
	MQ_STMT_FLOOR,
	/* ordering and control (0.2 queue tables only; see stmt.c) */
	MQ_STMT_SEND_PRIO,
	MQ_STMT_SEND_BATCH_PRIO,
	MQ_STMT_READ_PRIO,
	MQ_STMT_READ_PRIO_ONE,
	MQ_STMT_POP_PRIO,
	MQ_STMT_POP_PRIO_ONE,
	MQ_STMT_POP_PRIO_RETAIN,
	MQ_STMT_POP_PRIO_ONE_RETAIN,
	MQ_STMT_LEVELS,
	MQ_STMT_NEXT_ID,
	MQ_STMT_DEDUP,
	MQ_STMT_GROUP_JOIN,
	MQ_STMT_ENQUEUE,
	MQ_STMT_PARK,
	MQ_STMT_ACK_GROUP,
	MQ_STMT_ACK_GROUP_RETAIN,
	MQ_STMT_ACK_IDS_GROUP,
	MQ_STMT_ACK_IDS_GROUP_RETAIN,
	MQ_STMT_GROUP_LEAVE,
	MQ_STMT_GROUP_PROMOTE,
	MQ_STMT_REDRIVE_TAKE,
	MQ_STMT_DEDUP_PURGE,
	MQ_STMT_GROUP_PURGE,
	MQ_NUM_STMTS
} MqStmt;

/* A privilege granted on a queue with mq_grant. */
typedef struct MqGrant
{
	Oid			role;
	MqPrivilege privilege;
} MqGrant;

/* A queue as cached by a backend (queue.c). */
typedef struct MqQueue
{
	char		name[MQ_NAME_MAXLEN + 1];	/* hash key */
	bool		valid;			/* false once invalidated */
	Oid			relid;			/* OID of the live table q_<name> */
	Oid			owner;
	int64		visibility_timeout; /* microseconds */
	int32		max_attempts;
	bool		has_retention;
	int64		retention;		/* microseconds, when has_retention */
	int64		backoff_base;	/* microseconds */
	int64		backoff_max;	/* microseconds */
	bool		unlogged;
	bool		notify;			/* NOTIFY "mq_<name>" when sends commit */
	bool		has_topic;		/* its tables have topic and routing_key (0.2) */
	/* ordering and control (order.c); defaults on a 0.1 catalog */
	bool		v2;				/* its tables have 0.2's columns and tables */
	int64		dedup_window;	/* microseconds; 0: no deduplication */
	bool		paused;
	int32		rate_limit;		/* deliveries per second; 0: none */
	bool		priorities;		/* has its priority index: reads use it */
	bool		group_hint;		/* this backend's last ack was of a group */
	char		kind;			/* MQ_KIND_QUEUE or MQ_KIND_STREAM */
	int32		partitions;		/* streams: their number of partitions */
	struct MqStream *stream;	/* streams: stream.c's plans, else NULL */
	int			ngrants;
	MqGrant    *grants;			/* in the cache's memory context */
	SPIPlanPtr	plans[MQ_NUM_STMTS];
	/* reads scan from (scan_floor, scan_floor_id) up; see floor.c */
	TimestampTz scan_floor;
	int64		scan_floor_id;
	TimestampTz floor_advanced; /* when scan_floor last moved or was checked */
	TimestampTz floor_rechecked;	/* when it was last checked from the start */
	/* ... and, with priorities, from one floor per level known (floor.c) */
	int			nlevels;
	int16		levels[MQ_MAX_LEVELS];	/* highest first */
	TimestampTz level_floor[MQ_MAX_LEVELS];
	int64		level_floor_id[MQ_MAX_LEVELS];
	/* the cache keeps a bounded number of entries (queue.c) */
	uint64		last_used;		/* cache clock at the last lookup */
	int			pins;			/* calls using the entry: not evicted */
	uint8		touched;		/* bit k: plans use table "qda"[k] */
} MqQueue;

/*
 * What a function saves while it runs as the extension owner; see
 * MqBegin() in queue.c.
 */
typedef struct MqCall
{
	MqQueue    *queue;
	Oid			nspid;			/* OID of schema mq */
	Oid			caller;
	Oid			save_userid;
	int			save_sec_context;
	int			guc_nestlevel;	/* > 0 while MqOwnerSettings holds */
	int			lookup_lock;	/* lock MqLookup takes on live tables */
} MqCall;

/* queue.c */
extern void MqCacheInit(void);
extern void MqCachePrune(void);
extern Oid	MqNamespace(Oid *owner);
extern MqQueue *MqBegin(MqCall *call, const char *name, MqPrivilege priv,
						bool missing_ok);
extern MqQueue *MqLookup(MqCall *call, const char *name, bool missing_ok);
extern bool MqHasPrivilege(MqCall *call, MqQueue *queue, MqPrivilege priv);
extern void MqEnd(MqCall *call);
extern void MqOwnerSettings(MqCall *call);
extern int	MqExecute(MqQueue *queue, MqStmt stmt, Datum *values,
					  const char *nulls, long count);
extern SPIPlanPtr MqPlan(MqQueue *queue, MqStmt stmt);
extern void MqReturnRows(FunctionCallInfo fcinfo);
extern void MqReturnTable(FunctionCallInfo fcinfo, SPITupleTable *rows, uint64 n);
extern void MqNoteLeases(MqQueue *queue, SPITupleTable *rows, uint64 n);
extern int	MqExecuteLatest(SPIPlanPtr plan, Datum *args, long count);
extern void MqCheckPrivilege(MqCall *call, MqQueue *queue, MqPrivilege priv);
extern MqQueue *MqCheckManage(MqCall *call, const char *name);

/* due.c */
extern void MqDueInit(void);
extern void MqDueTouch(MqQueue *queue);
extern bool MqDueAvailable(void);
extern uint32 MqDueSlot(Oid dboid, const char *name);
extern uint32 MqDueChanges(uint32 slot);
/* stream.c */
extern void MqStreamInit(void);
extern void MqStreamFree(MqQueue *queue);
extern void MqWrongKind(MqQueue *queue, MqPrivilege priv);
extern void MqCheckExisting(MqCall *call, const char *name, char kind);
extern void MqStreamAlter(FunctionCallInfo fcinfo, MqCall *call, MqQueue *queue);
extern bool MqStreamDrop(MqCall *call, MqQueue *queue);
extern void MqStreamMetrics(MqQueue *queue, TimestampTz now, Datum *values, bool *nulls);
extern bool MqStreamMaintain(const char *name, TimestampTz *next);

/* acl.c */
extern const char *MqPrivilegeName(MqPrivilege priv);
extern void MqLoadGrants(MqQueue *queue, MemoryContext cxt);
extern void MqLoadGrantsFor(const char *name, MemoryContext cxt,
							MqGrant **grants, int *ngrants);
extern bool MqHasPrivilegeOn(MqCall *call, Oid owner, const MqGrant *grants,
							 int ngrants, MqPrivilege priv);
extern void MqPrivilegeDenied(const char *kind, const char *name, MqPrivilege priv);

/* topic.c */
typedef struct MqTopic MqTopic;
extern void MqTopicCacheInit(void);
extern MqTopic *MqTopicLookup(MqCall *call, const char *name);
extern bool MqTopicHasPrivilege(MqCall *call, MqTopic *topic, MqPrivilege priv);
extern void MqTopicNotQueue(MqCall *call, const char *name, MqPrivilege priv);
extern bool MqTopicDrop(MqCall *call, const char *name);
extern void MqTopicsChanged(Oid nspid);
extern Oid	MqBindingRelid(Oid nspid);

/* stmt.c */
extern char *MqStmtSql(MqStmt stmt, const MqQueue *queue, int *nargs,
					   const Oid **argtypes);
extern char *MqTableName(char kind, const char *queue);
extern char *MqExhaustedIndexSql(const char *queue, int32 max_attempts);
extern const char *MqObjectName(char kind, const char *queue, const char *what,
						  bool qualified);
extern int	MqStmtFloorArg(MqStmt stmt, const MqQueue *queue);
extern int	MqStmtLevelsArg(MqStmt stmt, const MqQueue *queue);
extern MqStmt MqStmtChoose(MqStmt stmt, const MqQueue *queue, Datum *values);
extern char *MqOrderTablesSql(const char *queue, bool unlogged);
extern char *MqPriorityIndexSql(const char *queue);

/* order.c */
extern bool MqCatalogV2(Oid nspid);
extern void MqCheckRateLimit(int32 value);
extern void MqOrderLoad(MqQueue *queue, HeapTuple tup, TupleDesc desc, int firstcol);
extern char *MqArgKey(FunctionCallInfo fcinfo, int argno, const char *what);
extern char *MqCheckKey(text *t, const char *what);
extern int32 MqArgPriority(FunctionCallInfo fcinfo, int argno);
extern void MqPriorityEnsure(MqQueue *queue);
extern int64 MqSendOne(MqQueue *queue, Datum *values, char *nulls,
					   const char *group_id, int32 priority, const char *dedup_key);
extern void MqGroupRelease(MqQueue *queue, const char *group_id, int64 already_left);
extern int32 MqRateTake(MqQueue *queue, int32 qty, TimestampTz *next);
extern void MqRateReturn(MqQueue *queue, int32 unused);
extern void MqRateInit(void);

/* schedule.c */
extern void MqScheduleRun(TimestampTz *next);

/* floor.c */
extern void MqFloorReset(MqQueue *queue);
extern void MqFloorAdvance(MqQueue *queue);
extern void MqLevelsArgs(MqQueue *queue, Datum *values, char *nulls);
extern int	MqLevelRanges(MqQueue *queue, Datum *hi, Datum *lo, Datum *floor,
						  Datum *floor_id);

/* validate.c */
extern char *MqArgQueueName(FunctionCallInfo fcinfo, int argno);
extern char *MqArgName(FunctionCallInfo fcinfo, int argno, const char *kind);
extern void MqCheckQueueName(const char *name);
extern void MqCheckName(const char *name, const char *kind);
extern void MqArgNotNull(FunctionCallInfo fcinfo, int argno, const char *what);
extern int64 MqIntervalUsecs(Datum interval, const char *what, bool allow_zero);
extern int32 MqArgQty(FunctionCallInfo fcinfo, int argno);
extern int32 MqCheckMaxAttempts(int32 value);
extern void MqCheckBody(Datum body, const char *what);
extern void MqCheckHeaders(Datum headers);
extern Datum MqErrorArg(text *error);
extern TimestampTz MqAddUsecs(TimestampTz ts, int64 usecs);

/*
 * What a transaction did to a queue that may make messages readable when
 * it ends (wakeup.c).
 */
#define MQ_WAKE_ON_COMMIT		0x01	/* sent, nacked, redrove, altered */
#define MQ_WAKE_ON_ABORT		0x02	/* locked rows that become free */
#define MQ_NOTIFY_ON_COMMIT		0x04	/* the queue has notify set */
#define MQ_WAKE_STATUS_ON_COMMIT	0x08	/* acked, popped, dead-lettered, purged */

/* What a waiter waits for (wakeup.c). */
typedef enum MqWaitKind
{
	MQ_WAIT_READ,				/* messages to read: mq_read */
	MQ_WAIT_STATUS				/* a message's fate: mq_status */
} MqWaitKind;

/* wakeup.c */
extern void MqWakeupInit(void);
extern void MqWakeupRegister(MqQueue *queue, int flags);
extern void MqWaitInterrupt(MqQueue *queue);
extern void MqWaitBegin(MqQueue *queue, MqWaitKind kind);
extern bool MqWaitSleep(TimestampTz until);
extern void MqWaitCheckClient(void);
extern void MqWaitEnd(void);

/* What stats.c counts for an object (the counters of mq_stats). */
typedef enum MqStatCounter
{
	MQ_STAT_SENT,
	MQ_STAT_DELIVERED,
	MQ_STAT_ACKED,
	MQ_STAT_NACKED,
	MQ_STAT_DEAD_LETTERED,
	MQ_STAT_EXPIRED,
	MQ_STAT_NCOUNTERS
} MqStatCounter;

/* stats.c */
extern bool mq_stats_enabled;
extern int	mq_stats_max_queues;
extern int	mq_metrics_exact_limit;
extern void MqStatsInit(void);
extern void MqStatsSent(MqQueue *queue, uint64 n);
extern int	MqInt64Cmp(const void *a, const void *b);
extern void MqStatsPick(int64 msg_id, int32 attempt, TimestampTz visible_at,
						bool expired);
extern void MqStatsDelivered(MqQueue *queue, SPITupleTable *rows, uint64 n,
							 bool popped);
extern void MqStatsAcked(MqQueue *queue, SPITupleTable *rows, uint64 n, int col);
extern void MqStatsNacked(MqQueue *queue, bool dead);
extern void MqStatsExpired(MqQueue *queue, uint64 n);
extern void MqStatsConsumed(MqQueue *stream, SPITupleTable *rows, uint64 n);
extern void MqStatsPublished(const char *topic);
extern void MqStatsDropped(MqQueue *queue);
extern void MqStatsTopicDropped(const char *topic);
extern void MqStatsWaitBegin(MqQueue *queue);
extern void MqStatsWaitEnd(void);
extern bool MqMayMonitor(MqCall *call, MqQueue *queue);

/* read.c */
extern int64 MqWaitArg(FunctionCallInfo fcinfo, int argno, const char *func);

/* ack.c */
extern int64 MqBackoffUsecs(MqQueue *queue, int32 attempt);

/*
 * Background workers (launcher.c, worker.c; see docs/workers.md).
 *
 * With shared_preload_libraries = 'mq' a launcher runs once recovery has
 * finished and keeps one worker in every database where mq is installed.
 * Without preload, mq_worker_start() starts a worker for one database.
 */

/* What a worker is told when it starts, in bgw_extra. */
typedef struct MqWorkerArgs
{
	Oid			dboid;
	bool		managed;		/* started by the launcher */
} MqWorkerArgs;

/* launcher.c */
extern void MqLauncherInit(void);
extern PGDLLEXPORT void MqLauncherMain(Datum main_arg);
extern bool MqLauncherActive(void);
extern void MqLauncherWake(Oid dboid);
extern void MqLauncherReportAbsent(Oid dboid);
extern struct BackgroundWorkerHandle *MqStartWorker(Oid dboid, const char *dbname,
													bool managed, pid_t notify_pid);

/* vacuum.c */
extern void MqVacuumPass(List *relids);
extern void MqVacuumPoll(void);
extern void MqVacuumStop(void);
extern PGDLLEXPORT void MqVacuumMain(Datum main_arg);

/* worker.c */
extern PGDLLEXPORT void MqWorkerMain(Datum main_arg);
extern bool MqWorkerLockHeld(Oid dboid);
extern bool MqDatabaseWanted(Oid dboid);

#endif							/* MQ_H */
