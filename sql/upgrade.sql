-- A database created by 0.1 keeps working with this library, and ALTER
-- EXTENSION mq UPDATE gives its queues' objects the names 0.2 gives them,
-- with which no two valid queue names collide.
\set VERBOSITY terse
DROP EXTENSION mq CASCADE;
CREATE EXTENSION mq VERSION '0.1';
SELECT mq_create('c1'), mq_create('c2');
SELECT mq_send('c1', '{"n": 1}') > 0 AS sent;
-- the names the 0.1 library gave them
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT c.relname, c.relkind FROM pg_class c
			  WHERE c.relnamespace = 'mq'::regnamespace AND c.relname LIKE '%$%' LOOP
		EXECUTE format('ALTER %s mq.%I RENAME TO %I',
					   CASE r.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'INDEX' END,
					   r.relname, replace(r.relname, '$', '_'));
	END LOOP;
END $$;
-- 0.1's names, which made these fail with 42P07
SELECT relname FROM pg_class WHERE relnamespace = 'mq'::regnamespace
   AND relname LIKE '%c1%' ORDER BY 1;
SELECT mq_create('c1_visible');
-- the 0.2 library finds 0.1's index of exhausted messages
SELECT mq_alter('c1', max_attempts => 7);
ALTER EXTENSION mq UPDATE TO '0.2';
SELECT relname FROM pg_class WHERE relnamespace = 'mq'::regnamespace
   AND relname LIKE '%c1%' ORDER BY 1;
SELECT conname FROM pg_constraint WHERE connamespace = 'mq'::regnamespace
   AND conname LIKE '%c1%' ORDER BY 1;
SELECT mq_alter('c1', max_attempts => 3);
SELECT mq_send('c1', '{"n": 2}') > 0 AS sent;
SELECT count(*) FROM mq_read('c1', 10);
-- names that collided with another queue's objects in 0.1
SELECT mq_create('c1_visible'), mq_create('c1_exhausted'), mq_create('c1_pkey'),
	   mq_create('c1_msg_id_seq'), mq_create('c2_dead_at');
SELECT mq_create('x'), mq_create('x_visible'), mq_create('x-visible');
SELECT mq_send('c1_msg_id_seq', '{}') > 0 AS sent;
SELECT count(*) FROM mq_queues;
DROP EXTENSION mq CASCADE;
CREATE EXTENSION mq;
