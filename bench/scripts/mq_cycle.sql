-- steady state at a fixed backlog: send 1, read the oldest, ack it.  With
-- several clients and a backlog of 1 a read may find nothing (another
-- client took the messages its snapshot showed); then there is nothing to
-- ack.
SELECT mq_send(:q, :body);
\set msg_id 0
SELECT msg_id, attempt FROM mq_read(:q) \aset
\if :msg_id > 0
SELECT mq_ack(:q, :msg_id, :attempt);
\endif
