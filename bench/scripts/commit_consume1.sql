-- the ceiling of read 1 + ack: two empty durable transactions a message
-- (see commit_send1.sql), as the read (the lease) and the ack each commit
SELECT pg_logical_emit_message(true, 'mq_bench', '');
SELECT pg_logical_emit_message(true, 'mq_bench', '');
