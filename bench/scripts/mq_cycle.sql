-- steady state at a fixed backlog: send 1, read the oldest, ack it.  With
-- a backlog of 1 a read may find nothing (the other client took the
-- messages its snapshot showed); then there is nothing to ack.
SELECT mq_send('bench', :body);
\set msg_id 0
SELECT msg_id, attempt FROM mq_read('bench') \aset
\if :msg_id > 0
SELECT mq_ack('bench', :msg_id, :attempt);
\endif
