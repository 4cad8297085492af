/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Declarations shared by the files of streams: stream.c (the functions,
 *	  the worker's retention) and stream_order.c (the order of records).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_STREAM_H
#define MQ_STREAM_H

#include "mq.h"

#define MQ_MAX_PARTITIONS		256
/* a segment holds 2^MQ_SEGMENT_BITS msg_ids */
#define MQ_SEGMENT_BITS			32
#define MQ_SEGMENT_START(k)		((int64) (k) << MQ_SEGMENT_BITS)

/* stream.c */
extern int64 MqStreamAppend(MqQueue *stream, Oid nspid, text *key, Datum body,
							Datum headers, Datum topic, Datum routing_key);

/* stream_order.c */
extern void MqStreamMarkBegin(MqQueue *stream, const bool *parts);
extern void MqStreamMarkFirst(MqQueue *stream, int64 msg_id);
extern int64 MqStreamLastId(Oid seqid);
extern void MqStreamHorizons(MqQueue *stream, Oid seqid, int64 *h);

#endif							/* MQ_STREAM_H */
