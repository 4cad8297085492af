-- move a group of this client's to a random msg_id in the stream, consume
-- 1000 records from there, and roll both back (the stream stays as it is)
\set p random(:lo, :hi)
BEGIN;
SELECT mq_seek(:s, 'r' || :client_id::text, msg_id => :p);
SELECT count(*) FROM mq_consume(:s, 'r' || :client_id::text, 1000);
ROLLBACK;
