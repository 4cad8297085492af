\set p random(1, :n - 2000)
BEGIN;
SELECT mq_seek(:s, 'g' || :client_id, msg_id => :p);
SELECT count(*) FROM mq_consume(:s, 'g' || :client_id, 1000);
ROLLBACK;
