/*-------------------------------------------------------------------------
 *
 * mq.c
 *	  Entry point of the mq extension: module magic, _PG_init and GUCs.
 *
 * _PG_init only defines settings and calls the initialisers of the other
 * files; it runs in every backend that loads the library, whether through
 * shared_preload_libraries or on the first call of an mq function.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "mq.h"

PG_MODULE_MAGIC;

/* mq.max_message_size: the largest body, headers or result, in bytes */
int			mq_max_message_size = 1024 * 1024;

/* mq.max_wait: the longest wait mq_read accepts, in milliseconds */
int			mq_max_wait = 5 * 60 * 1000;
/* background workers; see docs/workers.md */
bool		mq_worker_enabled = true;
int			mq_worker_naptime = 1000;	/* ms */
int			mq_worker_batch_size = 1000;
int			mq_launcher_naptime = 10000;	/* ms */
int			mq_vacuum_threshold = 10000;
double		mq_vacuum_scale_factor = 0.2;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("mq.max_message_size",
							"Largest message body, headers or ack result accepted.",
							"Measured as the stored jsonb size before compression.",
							&mq_max_message_size,
							1024 * 1024,
							1,
							MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mq.max_wait",
							"Longest wait accepted by mq_read.",
							"A waiting read holds its statement's snapshot and a "
							"connection; longer waits are rejected.",
							&mq_max_wait,
							5 * 60 * 1000,
							0,
							60 * 60 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	MqWakeupInit();
	MqDueInit();
	MqRateInit();

	DefineCustomBoolVariable("mq.worker_enabled",
							 "Runs the background workers that dead-letter, purge and vacuum.",
							 "When off, workers exit and the launcher starts none.",
							 &mq_worker_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("mq.worker_naptime",
							"Longest time a worker sleeps between two passes over its queues.",
							"A worker also wakes when a last lease or a retention period it knows of ends.",
							&mq_worker_naptime,
							1000,
							10,
							3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mq.worker_batch_size",
							"Messages a worker dead-letters or purges per transaction.",
							NULL,
							&mq_worker_batch_size,
							1000,
							1,
							MQ_MAX_QTY * 10,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mq.launcher_naptime",
							"Time between the launcher's scans for new databases.",
							"CREATE EXTENSION mq wakes the launcher at once; scans find databases created from a template that has mq.",
							&mq_launcher_naptime,
							10000,
							100,
							3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mq.vacuum_threshold",
							"Dead rows beyond which a worker vacuums a queue table itself; -1 leaves it to autovacuum.",
							"A table is vacuumed when its dead rows exceed mq.vacuum_threshold plus mq.vacuum_scale_factor times its live rows.",
							&mq_vacuum_threshold,
							10000,
							-1,
							INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomRealVariable("mq.vacuum_scale_factor",
							 "Fraction of a queue table's live rows added to mq.vacuum_threshold.",
							 NULL,
							 &mq_vacuum_scale_factor,
							 0.2,
							 0.0,
							 100.0,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	MqStatsInit();
	MarkGUCPrefixReserved("mq");

	MqCacheInit();
	MqTopicCacheInit();
	MqStreamInit();
	MqLauncherInit();
}
