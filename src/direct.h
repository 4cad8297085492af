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
#include "utils/array.h"
#include "utils/snapshot.h"

/* What a plain send writes besides each message's body. */
typedef struct MqDirectSend
{
	TimestampTz visible_at;
	TimestampTz enqueued_at;
	Datum		headers;
	bool		headers_null;
	int32		priority;
} MqDirectSend;

/* What the records of an append share besides their ids, keys and bodies. */
typedef struct MqDirectRecord
{
	TimestampTz appended_at;
	Datum		headers;
	bool		headers_null;
	Datum		topic;
	bool		topic_null;
	Datum		routing_key;
	bool		routing_key_null;
} MqDirectRecord;

extern bool MqDirectAppend(Oid segrelid, const MqDirectRecord *rec, int n,
						   const int64 *msg_ids, const int32 *partitions,
						   const Datum *keys, const bool *keynulls,
						   const Datum *bodies);
extern bool MqDirectInsert(MqQueue *queue, const MqDirectSend *send,
						   const Datum *bodies, int nbodies, int64 *msg_ids);
extern bool MqDirectAck(MqQueue *queue, int64 msg_id, bool fenced, int32 attempt,
						bool *acked);
extern int	MqDirectAckGroup(MqQueue *queue, int64 msg_id, bool fenced,
							 int32 attempt, char **group_id, int64 *left,
							 bool *moved);
extern int	MqDirectAckIds(MqQueue *queue, ArrayType *msg_ids, int64 **acked_ids);
extern bool MqDirectFloor(MqQueue *queue, Snapshot snapshot, TimestampTz from,
						  int64 from_id, TimestampTz *least, int64 *least_id,
						  bool *found);
extern int	MqDirectNack(MqQueue *queue, int64 msg_id, bool fenced, int32 attempt,
						 bool nack, int64 delay, Datum error, bool error_null,
						 TimestampTz *until, int32 *row_attempt, char **group_id);
extern int	MqDirectRead(MqQueue *queue, int32 qty, TimestampTz now,
						 TimestampTz lease_end, bool pop, TupleDesc desc,
						 HeapTuple **rows);

#endif							/* MQ_DIRECT_H */
