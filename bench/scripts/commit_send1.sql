-- the ceiling of a single send: the empty durable transaction, one a
-- message: a WAL record of no size (a transactional logical message), so
-- that the commit writes its record and, with synchronous_commit = on,
-- waits for the flush, as the commit of any write does
SELECT pg_logical_emit_message(true, 'mq_bench', '');
