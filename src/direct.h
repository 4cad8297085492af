/*-------------------------------------------------------------------------
 *
 * direct.h
 *	  Writes to a queue's live table through the table and index access
 *	  methods, without SPI (direct.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_DIRECT_H
#define MQ_DIRECT_H

#include "mq.h"

/* What a plain send writes besides each message's body. */
typedef struct MqDirectSend
{
	TimestampTz visible_at;
	TimestampTz enqueued_at;
	Datum		headers;
	bool		headers_null;
	int32		priority;
} MqDirectSend;

extern bool MqDirectInsert(MqQueue *queue, const MqDirectSend *send,
						   const Datum *bodies, int nbodies, int64 *msg_ids);
extern bool MqDirectAck(MqQueue *queue, int64 msg_id, bool fenced, int32 attempt,
						bool *acked);

#endif							/* MQ_DIRECT_H */
