/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher, which keeps one worker (worker.c) in every database where
 *	  mq is installed, and the SQL functions that start workers.
 *
 * With shared_preload_libraries = 'mq' the postmaster starts the launcher
 * once recovery has finished: never on a standby, and as soon as a standby
 * is promoted.  The launcher connects to no database.  Like the autovacuum
 * launcher it reads the shared catalog pg_database, and it starts a worker
 * in every database that accepts connections and is not a template; there
 * is no list of databases to configure.  A worker that finds no mq in its
 * database says so (MqLauncherReportAbsent) and exits, and the launcher
 * leaves that database alone until CREATE EXTENSION mq wakes it (the
 * install script calls mq.worker_notify(), which wakes the launcher when
 * the transaction commits) or until the launcher restarts.  A scan every
 * mq.launcher_naptime finds new databases: one created from a template that
 * has mq has it without any CREATE EXTENSION.  A worker that stops for any
 * other reason (an error it could not handle, pg_terminate_backend, a
 * command that needed its database to itself) is started again after
 * MQ_RESTART_DELAY_MS.
 *
 * Before it starts a worker the launcher tests two locks without waiting
 * for them: the worker lock (worker.c), which a worker serving the database
 * holds, and the database's own lock, which DROP DATABASE, CREATE DATABASE
 * ... TEMPLATE, ALTER DATABASE ... RENAME and SET TABLESPACE hold while
 * they need the database to themselves.  It starts a worker only when
 * neither is taken, so it never races such a command for the database.
 *
 * Shared memory (MqLauncherShmemData) holds the launcher's latch and two
 * short lists of database OIDs: wake-ups, from backends, and reports of
 * absence, from workers.  A spinlock protects it and is held only to copy a
 * few words.  When the wake-up list is full the launcher wakes every
 * database it knows, which costs some short-lived workers and loses
 * nothing; a lost report of absence makes the launcher try that database
 * again after the restart delay.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_worker_start);
PG_FUNCTION_INFO_V1(mq_worker_notify);

/* room for wake-ups and reports between two rounds of the launcher */
#define MQ_LAUNCHER_LIST	64
/* a worker that stopped unexpectedly is started again after this */
#define MQ_RESTART_DELAY_MS	1000
/* the postmaster restarts a launcher that failed after this (seconds) */
#define MQ_LAUNCHER_RESTART_S 5
/* a database whose worker cannot be started for this long is reported */
#define MQ_NO_SLOT_WARN_MS	10000
/* how long mq_worker_start waits for the launcher */
#define MQ_START_WAIT_MS	10000

StaticAssertDecl(sizeof(MqWorkerArgs) <= BGW_EXTRALEN,
				 "MqWorkerArgs must fit in bgw_extra");

typedef struct MqLauncherShmemData
{
	slock_t		mutex;
	Latch	   *latch;			/* the launcher's, or NULL */
	bool		wake_all;		/* the wake-up list overflowed */
	int			nwake;
	Oid			wake[MQ_LAUNCHER_LIST];
	int			nabsent;
	Oid			absent[MQ_LAUNCHER_LIST];
} MqLauncherShmemData;

/* What the launcher knows of a database (launcher-local). */
typedef enum MqDbState
{
	MQ_DB_WANTED,				/* to be given a worker */
	MQ_DB_RUNNING,				/* has a worker the launcher started */
	MQ_DB_ABSENT				/* mq is not installed there */
} MqDbState;

typedef struct MqDb
{
	Oid			dboid;			/* hash key */
	NameData	name;
	MqDbState	state;
	BackgroundWorkerHandle *handle; /* when RUNNING */
	TimestampTz not_before;		/* when WANTED: start no sooner */
	TimestampTz failing_since;	/* first failed start of a streak, or 0 */
	bool		absent;			/* its worker reported that mq is absent */
	bool		woken;			/* woken while its worker ran */
	bool		seen;			/* in the last scan of pg_database */
} MqDb;

static MqLauncherShmemData *launcher_shmem = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* launcher state */
static HTAB *databases = NULL;
static MemoryContext launcher_cxt = NULL;

/* backend state: wake the launcher when this transaction commits */
static bool wake_at_commit = false;
static bool xact_callback_registered = false;

static void
mq_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(MqLauncherShmemData)));
}

static void
mq_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	launcher_shmem = ShmemInitStruct("mq launcher", sizeof(MqLauncherShmemData), &found);
	if (!found)
	{
		memset(launcher_shmem, 0, sizeof(MqLauncherShmemData));
		SpinLockInit(&launcher_shmem->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Called by _PG_init.  Only while shared_preload_libraries are loaded can
 * the library reserve shared memory and register a static worker.
 */
void
MqLauncherInit(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mq_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mq_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = MQ_LAUNCHER_RESTART_S;
	strlcpy(worker.bgw_library_name, "mq", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "MqLauncherMain", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "mq launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "mq launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* Is there a launcher to ask (is mq preloaded)? */
bool
MqLauncherActive(void)
{
	return launcher_shmem != NULL;
}

/* Add dboid to one of the shared lists and wake the launcher. */
static void
mq_launcher_push(Oid *list, int *n, bool *overflow, Oid dboid)
{
	Latch	   *latch;
	int			i;

	if (launcher_shmem == NULL)
		return;
	SpinLockAcquire(&launcher_shmem->mutex);
	for (i = 0; i < *n; i++)
		if (list[i] == dboid)
			break;
	if (i == *n)
	{
		if (*n < MQ_LAUNCHER_LIST)
			list[(*n)++] = dboid;
		else if (overflow != NULL)
			*overflow = true;
	}
	latch = launcher_shmem->latch;
	SpinLockRelease(&launcher_shmem->mutex);

	/* a stale pointer is the latch of a PGPROC: setting it is harmless */
	if (latch != NULL)
		SetLatch(latch);
}

/* Ask the launcher to give database dboid a worker if it has none. */
void
MqLauncherWake(Oid dboid)
{
	if (launcher_shmem != NULL)
		mq_launcher_push(launcher_shmem->wake, &launcher_shmem->nwake,
						 &launcher_shmem->wake_all, dboid);
}

/* Tell the launcher that mq is not installed in database dboid. */
void
MqLauncherReportAbsent(Oid dboid)
{
	if (launcher_shmem != NULL)
		mq_launcher_push(launcher_shmem->absent, &launcher_shmem->nabsent,
						 NULL, dboid);
}

/*
 * Register a dynamic worker for database dboid.  Returns NULL when no
 * background worker slot is free.  The handle is allocated in the current
 * memory context.
 */
BackgroundWorkerHandle *
MqStartWorker(Oid dboid, const char *dbname, bool managed, pid_t notify_pid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MqWorkerArgs args;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "mq", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "MqWorkerMain", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "mq worker for database \"%s\"", dbname);
	strlcpy(worker.bgw_type, "mq worker", BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	memset(&args, 0, sizeof(args));
	args.dboid = dboid;
	args.managed = managed;
	memcpy(worker.bgw_extra, &args, sizeof(args));
	worker.bgw_notify_pid = notify_pid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return NULL;
	return handle;
}

static void
mq_launcher_detach(int code, Datum arg)
{
	SpinLockAcquire(&launcher_shmem->mutex);
	launcher_shmem->latch = NULL;
	SpinLockRelease(&launcher_shmem->mutex);
}

static MqDb *
mq_launcher_enter(Oid dboid)
{
	bool		found;
	MqDb	   *db = hash_search(databases, &dboid, HASH_ENTER, &found);

	if (!found)
	{
		memset(NameStr(db->name), 0, NAMEDATALEN);
		db->state = MQ_DB_WANTED;
		db->handle = NULL;
		db->not_before = 0;
		db->failing_since = 0;
		db->absent = false;
		db->woken = false;
		db->seen = false;
	}
	return db;
}

/* Mark a database to be given a worker now (or when its worker stops). */
static void
mq_launcher_want(MqDb *db)
{
	if (db->state == MQ_DB_RUNNING)
		db->woken = true;
	else
	{
		db->state = MQ_DB_WANTED;
		db->not_before = 0;
	}
}

/*
 * Take in wake-ups and reports of absence, and notice the workers that
 * stopped.
 */
static void
mq_launcher_collect(TimestampTz now)
{
	Oid			wake[MQ_LAUNCHER_LIST];
	Oid			absent[MQ_LAUNCHER_LIST];
	int			nwake,
				nabsent,
				i;
	bool		wake_all;
	HASH_SEQ_STATUS status;
	MqDb	   *db;

	SpinLockAcquire(&launcher_shmem->mutex);
	nwake = launcher_shmem->nwake;
	memcpy(wake, launcher_shmem->wake, nwake * sizeof(Oid));
	nabsent = launcher_shmem->nabsent;
	memcpy(absent, launcher_shmem->absent, nabsent * sizeof(Oid));
	wake_all = launcher_shmem->wake_all;
	launcher_shmem->nwake = 0;
	launcher_shmem->nabsent = 0;
	launcher_shmem->wake_all = false;
	SpinLockRelease(&launcher_shmem->mutex);

	/*
	 * A worker reports absence before it exits, so a report is in by the
	 * time its handle shows it stopped.  A wake-up that arrives while the
	 * worker still runs wins over its report: CREATE EXTENSION may have
	 * committed after the worker looked.
	 */
	for (i = 0; i < nabsent; i++)
	{
		db = hash_search(databases, &absent[i], HASH_FIND, NULL);
		if (db != NULL)
			db->absent = true;
	}
	for (i = 0; i < nwake; i++)
		mq_launcher_want(mq_launcher_enter(wake[i]));
	if (wake_all)
	{
		hash_seq_init(&status, databases);
		while ((db = hash_seq_search(&status)) != NULL)
			mq_launcher_want(db);
	}

	hash_seq_init(&status, databases);
	while ((db = hash_seq_search(&status)) != NULL)
	{
		pid_t		pid;

		if (db->state != MQ_DB_RUNNING ||
			GetBackgroundWorkerPid(db->handle, &pid) != BGWH_STOPPED)
			continue;
		pfree(db->handle);
		db->handle = NULL;
		if (db->absent && !db->woken)
			db->state = MQ_DB_ABSENT;
		else
		{
			db->state = MQ_DB_WANTED;
			db->not_before = (db->absent || db->woken) ? 0 :
				TimestampTzPlusMilliseconds(now, MQ_RESTART_DELAY_MS);
		}
	}
}

/*
 * Read pg_database, as the autovacuum launcher does, to learn of new
 * databases and forget dropped ones.  Templates and databases that refuse
 * connections get no worker: a worker in a template would hold up every
 * CREATE DATABASE that copies it.
 */
static void
mq_launcher_scan(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	HASH_SEQ_STATUS status;
	MqDb	   *db;

	hash_seq_init(&status, databases);
	while ((db = hash_seq_search(&status)) != NULL)
		db->seen = false;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tup);

		if (!form->datallowconn || form->datistemplate)
			continue;
#ifdef DATCONNLIMIT_INVALID_DB
		/* a database left half-dropped by an interrupted DROP DATABASE */
		if (form->datconnlimit == DATCONNLIMIT_INVALID_DB)
			continue;
#endif
		db = mq_launcher_enter(form->oid);
		namestrcpy(&db->name, NameStr(form->datname));
		db->seen = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	hash_seq_init(&status, databases);
	while ((db = hash_seq_search(&status)) != NULL)
	{
		if (db->seen)
			continue;
		if (db->handle != NULL)
			pfree(db->handle);
		hash_search(databases, &db->dboid, HASH_REMOVE, NULL);
	}
}

/* Is any database waiting for a worker whose time has come? */
static bool
mq_launcher_due(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	MqDb	   *db;
	bool		due = false;

	if (!mq_worker_enabled)
		return false;
	hash_seq_init(&status, databases);
	while ((db = hash_seq_search(&status)) != NULL)
	{
		if (db->state == MQ_DB_WANTED && db->not_before <= now)
			due = true;
	}
	return due;
}

static long
mq_ms_until(TimestampTz now, TimestampTz then)
{
	if (then <= now)
		return 0;
	/* round up, so that the wait does not end just before "then" */
	return (long) Min((then - now + 999) / 1000, (int64) INT_MAX);
}

/*
 * Start workers for the databases that are due.  Returns how long the
 * launcher may sleep, in milliseconds, until next_scan at most.
 */
static long
mq_launcher_start_workers(TimestampTz now, TimestampTz next_scan)
{
	long		timeout = mq_ms_until(now, next_scan);
	HASH_SEQ_STATUS status;
	MqDb	   *db;

	if (!mq_worker_enabled)
		return timeout;

	hash_seq_init(&status, databases);
	while ((db = hash_seq_search(&status)) != NULL)
	{
		BackgroundWorkerHandle *handle;
		MemoryContext oldcxt;

		if (db->state != MQ_DB_WANTED || !db->seen)
			continue;
		if (db->not_before > now)
		{
			timeout = Min(timeout, mq_ms_until(now, db->not_before));
			continue;
		}

		/* a command has the database to itself: come back shortly */
		if (MqDatabaseWanted(db->dboid))
		{
			db->not_before = TimestampTzPlusMilliseconds(now, MQ_RESTART_DELAY_MS);
			timeout = Min(timeout, MQ_RESTART_DELAY_MS);
			continue;
		}
		/* a worker the launcher did not start serves it: look at the next scan */
		if (MqWorkerLockHeld(db->dboid))
		{
			db->not_before = next_scan;
			continue;
		}

		oldcxt = MemoryContextSwitchTo(launcher_cxt);
		handle = MqStartWorker(db->dboid, NameStr(db->name), true, MyProcPid);
		MemoryContextSwitchTo(oldcxt);
		if (handle == NULL)
		{
			/*
			 * All background worker slots are taken.  When mq's own
			 * short-lived workers hold them, a stopping one wakes us; in
			 * case others hold them, try again shortly, and say so if it
			 * lasts.
			 */
			if (db->failing_since == 0)
				db->failing_since = now;
			else if (now - db->failing_since >= MQ_NO_SLOT_WARN_MS * INT64CONST(1000))
			{
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("could not start an mq worker for database \"%s\"",
								NameStr(db->name)),
						 errdetail("All background worker slots are in use."),
						 errhint("Raise max_worker_processes.")));
				db->failing_since = now;
			}
			db->not_before = TimestampTzPlusMilliseconds(now, MQ_RESTART_DELAY_MS);
			timeout = Min(timeout, MQ_RESTART_DELAY_MS);
			continue;
		}
		db->state = MQ_DB_RUNNING;
		db->handle = handle;
		db->failing_since = 0;
		db->absent = false;
		db->woken = false;
	}
	return timeout;
}

void
MqLauncherMain(Datum main_arg)
{
	HASHCTL		ctl;
	TimestampTz next_scan = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: the launcher reads only the shared catalog pg_database */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("mq launcher");

	launcher_cxt = AllocSetContextCreate(TopMemoryContext, "mq launcher",
										 ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(MqDb);
	ctl.hcxt = launcher_cxt;
	databases = hash_create("mq databases", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	SpinLockAcquire(&launcher_shmem->mutex);
	launcher_shmem->latch = MyLatch;
	SpinLockRelease(&launcher_shmem->mutex);
	before_shmem_exit(mq_launcher_detach, (Datum) 0);

	ereport(LOG, (errmsg("mq launcher started")));

	for (;;)
	{
		TimestampTz now;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* the naptime may have changed, workers may have been enabled */
			next_scan = 0;
		}

		now = GetCurrentTimestamp();
		mq_launcher_collect(now);
		if (now >= next_scan || mq_launcher_due(now))
		{
			pgstat_report_activity(STATE_RUNNING, "scanning pg_database");
			mq_launcher_scan();
			next_scan = TimestampTzPlusMilliseconds(now, mq_launcher_naptime);
			pgstat_report_activity(STATE_IDLE, NULL);
		}
		timeout = mq_launcher_start_workers(now, next_scan);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

static void
mq_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (wake_at_commit)
				MqLauncherWake(MyDatabaseId);
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * mq.worker_notify(): called by the install script, so that the launcher
 * starts this database's worker as soon as CREATE EXTENSION commits (and
 * not at all if it rolls back).  Without preload there is no launcher and
 * it does nothing.
 */
Datum
mq_worker_notify(PG_FUNCTION_ARGS)
{
	if (launcher_shmem != NULL)
	{
		if (!xact_callback_registered)
		{
			RegisterXactCallback(mq_xact_callback, NULL);
			xact_callback_registered = true;
		}
		wake_at_commit = true;
	}
	PG_RETURN_VOID();
}

/*
 * mq_worker_start(): start a worker for the current database.  Returns
 * false if one already serves it.  With preload the launcher owns the
 * workers, so this asks it and waits to see the worker; without, it
 * registers a dynamic worker, which runs until the server stops.  Only
 * superusers and members of the extension owner's role may call it.
 */
Datum
mq_worker_start(PG_FUNCTION_ARGS)
{
	Oid			owner;
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	int			waited;

	MqNamespace(&owner);
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to start an mq worker"),
				 errdetail("Only superusers and members of the role owning extension mq may start one.")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot start an mq worker during recovery"),
				 errhint("With mq in shared_preload_libraries, workers start on their own when the server is promoted.")));
	if (!mq_worker_enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mq workers are disabled"),
				 errhint("Set mq.worker_enabled to on.")));

	if (MqWorkerLockHeld(MyDatabaseId))
		PG_RETURN_BOOL(false);

	if (launcher_shmem != NULL)
	{
		MqLauncherWake(MyDatabaseId);
		for (waited = 0; waited < MQ_START_WAIT_MS; waited += 100)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			if (MqWorkerLockHeld(MyDatabaseId))
				PG_RETURN_BOOL(true);
		}
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the mq launcher did not start a worker for this database"),
				 errhint("See the server log; raising max_worker_processes may help.")));
	}

	handle = MqStartWorker(MyDatabaseId, get_database_name(MyDatabaseId), false,
						   MyProcPid);
	if (handle == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not register an mq worker"),
				 errdetail("All background worker slots are in use."),
				 errhint("Raise max_worker_processes.")));
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start an mq worker"),
				 errhint("See the server log.")));
	PG_RETURN_BOOL(true);
}
