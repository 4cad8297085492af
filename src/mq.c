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
	MarkGUCPrefixReserved("mq");

	MqCacheInit();
}
