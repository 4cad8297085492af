-- Topics: publish once, a copy into every queue bound with a matching
-- pattern (RabbitMQ's topic exchange).
\set VERBOSITY terse

--
-- Pattern syntax: "*" is exactly one word, "#" zero or more.  One queue per
-- pattern is bound to one topic; every key is published once; each queue
-- must hold exactly the keys its pattern matches.
--
CREATE TEMP TABLE syntax_cases (n serial, pattern text, expected text[]);
INSERT INTO syntax_cases (pattern, expected) VALUES
	('#',		'{A,a,a-b_c.9,a.b,a.b.c,a.b.c.d,a.c,a.x.b,a.x.y.b,b,b.a,x.a.b,x.a.y,x.y,x.y.a,x.y.b}'),
	('#.#',		'{A,a,a-b_c.9,a.b,a.b.c,a.b.c.d,a.c,a.x.b,a.x.y.b,b,b.a,x.a.b,x.a.y,x.y,x.y.a,x.y.b}'),
	('#.#.#',	'{A,a,a-b_c.9,a.b,a.b.c,a.b.c.d,a.c,a.x.b,a.x.y.b,b,b.a,x.a.b,x.a.y,x.y,x.y.a,x.y.b}'),
	('*',		'{A,a,b}'),
	('*.*',		'{a-b_c.9,a.b,a.c,b.a,x.y}'),
	('*.#',		'{A,a,a-b_c.9,a.b,a.b.c,a.b.c.d,a.c,a.x.b,a.x.y.b,b,b.a,x.a.b,x.a.y,x.y,x.y.a,x.y.b}'),
	('#.*.*.#',	'{a-b_c.9,a.b,a.b.c,a.b.c.d,a.c,a.x.b,a.x.y.b,b.a,x.a.b,x.a.y,x.y,x.y.a,x.y.b}'),
	('a',		'{a}'),
	('A',		'{A}'),
	('a.*',		'{a.b,a.c}'),
	('a.#',		'{a,a.b,a.b.c,a.b.c.d,a.c,a.x.b,a.x.y.b}'),
	('a.#.b',	'{a.b,a.x.b,a.x.y.b}'),
	('a.*.b',	'{a.x.b}'),
	('#.b',		'{a.b,a.x.b,a.x.y.b,b,x.a.b,x.y.b}'),
	('*.b.#',	'{a.b,a.b.c,a.b.c.d}'),
	('#.a.#',	'{a,a.b,a.b.c,a.b.c.d,a.c,a.x.b,a.x.y.b,b.a,x.a.b,x.a.y,x.y.a}'),
	('a.b.c',	'{a.b.c}'),
	('a-b_c.9',	'{a-b_c.9}'),
	('a.b.c.d.e', '{}');
CREATE TEMP TABLE syntax_keys (key text);
INSERT INTO syntax_keys VALUES ('a'), ('A'), ('b'), ('a.b'), ('a.c'), ('b.a'),
	('x.y'), ('a.b.c'), ('a.x.b'), ('x.a.b'), ('x.a.y'), ('x.y.a'), ('x.y.b'),
	('a.x.y.b'), ('a.b.c.d'), ('a-b_c.9');

SELECT mq_create_topic('syntax');
SELECT bool_and(mq_create('syn_' || n)) AS created,
	   bool_and(mq_bind('syn_' || n, 'syntax', pattern)) AS bound
  FROM syntax_cases;
SELECT sum(mq_publish('syntax', key, jsonb_build_object('key', key))) AS copies
  FROM syntax_keys;
SELECT c.pattern, got.keys AS matched, got.keys = c.expected AS ok
  FROM syntax_cases c,
	   LATERAL (SELECT coalesce(array_agg(m.body->>'key' ORDER BY m.body->>'key' COLLATE "C"),
								'{}') AS keys
				  FROM mq_pop('syn_' || c.n, 100) m) got
 ORDER BY c.n;
-- a key of 255 characters, and one word of 255, are accepted
SELECT mq_publish('syntax', repeat('a.', 127) || 'a', '{}') AS copies_255;
SELECT mq_publish('syntax', repeat('x', 255), '{}') AS copies_long_word;
-- many "#" against a long key: the walk tries each (node, word) once, or
-- this would not end
SELECT mq_create('syn_deep');
SELECT mq_bind('syn_deep', 'syntax', '#.#.#.#.#.#.#.#.#.#.#.#.b');
SET statement_timeout = '20s';
SELECT mq_publish('syntax', repeat('a.', 127) || 'a', '{}') AS copies_deep_no_match;
SELECT mq_publish('syntax', repeat('a.', 127) || 'b', '{}') AS copies_deep_match;
RESET statement_timeout;
SELECT count(*) AS deep FROM mq_pop('syn_deep', 10);
SELECT mq_drop('syn_deep');
SELECT sum(n) AS popped FROM (SELECT count(*) AS n FROM syntax_cases c, mq_pop('syn_' || c.n, 100)) s;

-- anything else is 22023, before anything is looked up
SELECT mq_publish('syntax', '', '{}');
SELECT mq_publish('syntax', repeat('a', 256), '{}');
SELECT mq_publish('syntax', 'a..b', '{}');
SELECT mq_publish('syntax', '.a', '{}');
SELECT mq_publish('syntax', 'a.', '{}');
SELECT mq_publish('syntax', '.', '{}');
SELECT mq_publish('syntax', 'a b', '{}');
SELECT mq_publish('syntax', 'a.*', '{}');      -- wildcards are for patterns
SELECT mq_publish('syntax', '#', '{}');
SELECT mq_publish('syntax', 'ü', '{}');
SELECT mq_publish('syntax', E'a\tb', '{}');
SELECT mq_publish('no_such_topic', 'a..b', '{}');
SELECT mq_bind('syn_1', 'syntax', '');
SELECT mq_bind('syn_1', 'syntax', 'a..b');
SELECT mq_bind('syn_1', 'syntax', 'a.');
SELECT mq_bind('syn_1', 'syntax', '.#');
SELECT mq_bind('syn_1', 'syntax', 'a*');
SELECT mq_bind('syn_1', 'syntax', '*a');
SELECT mq_bind('syn_1', 'syntax', '##');
SELECT mq_bind('syn_1', 'syntax', 'a.#b');
SELECT mq_bind('syn_1', 'syntax', 'a.b;c');
SELECT mq_bind('syn_1', 'syntax', repeat('#.', 127) || '#.#');
SELECT mq_unbind('syn_1', 'syntax', 'a..b');
SELECT mq_bind('no_such_queue', 'syntax', '*.');
\set VERBOSITY default
SELECT mq_bind('syn_1', 'syntax', 'a..b');
SELECT mq_publish('syntax', 'a.b*', '{}');
\set VERBOSITY terse
SELECT count(*) AS bindings FROM mq_bindings WHERE topic = 'syntax';
SELECT mq_drop('syntax');
SELECT count(*) AS bindings FROM mq_bindings;
SELECT bool_and(mq_drop('syn_' || n)) FROM syntax_cases;

--
-- Publishing
--
SELECT mq_create('billing'), mq_create('shipping'), mq_create('audit');
SELECT mq_create_topic('orders');
SELECT mq_publish('orders', 'eu.order.created', '{"n": 0}') AS copies_unbound;
SELECT mq_bind('billing', 'orders', '*.order.created');
SELECT mq_bind('shipping', 'orders', 'eu.order.*');
SELECT mq_bind('audit', 'orders');                       -- '#' by default
SELECT mq_bind('audit', 'orders', 'eu.#');               -- two patterns, one copy
SELECT mq_bind('audit', 'orders', '#');                  -- exists: false
SELECT queue, topic, pattern FROM mq_bindings ORDER BY queue, pattern;
SELECT mq_publish('orders', 'eu.order.created', '{"n": 1}', headers => '{"h": 1}') AS copies;
SELECT mq_publish('orders', 'us.order.created', '{"n": 2}') AS copies;
SELECT mq_publish('orders', 'eu.order.shipped', '{"n": 3}') AS copies;
SELECT mq_publish(topic => 'orders', routing_key => 'us.refund', body => '{"n": 4}') AS copies;
-- each copy carries the topic and the routing key
SELECT body, headers, topic, routing_key, attempt FROM mq_read('audit', 10);
SELECT body, headers, topic, routing_key FROM mq_pop('billing', 10);
SELECT body, topic, routing_key FROM mq_pop('shipping', 10);
-- a plain send has neither
SELECT mq_send('audit', '{"n": "sent"}') > 0 AS sent;
SELECT body, topic, routing_key FROM mq_pop('audit', 10);

-- delay applies to every copy
SELECT mq_publish('orders', 'eu.order.created', '{"n": 5}', delay => '1 hour') AS copies;
SELECT queue, ready, delayed FROM mq_metrics() WHERE queue IN ('audit', 'billing', 'shipping') ORDER BY queue;
SELECT count(*) FROM mq_read('billing');
SELECT mq_purge('audit') + mq_purge('billing') + mq_purge('shipping') AS purged;

-- same transaction semantics as mq_send: a rollback takes every copy back
BEGIN;
SELECT mq_publish('orders', 'eu.order.created', '{"n": 6}') AS copies;
ROLLBACK;
SELECT queue, ready FROM mq_metrics() WHERE queue IN ('audit', 'billing', 'shipping') ORDER BY queue;
BEGIN;
SELECT mq_publish('orders', 'eu.order.created', '{"n": 7}') AS copies;
SAVEPOINT s;
SELECT mq_publish('orders', 'eu.order.created', '{"n": 8}') AS copies;
ROLLBACK TO s;
COMMIT;
SELECT body FROM mq_pop('audit', 10);

-- a bind, unbind or drop is seen by the next publish of the same transaction,
-- and forgotten when it rolls back
BEGIN;
SELECT mq_unbind('audit', 'orders', '#');
SELECT mq_publish('orders', 'us.order.created', '{"n": 9}') AS copies;
SELECT mq_unbind('audit', 'orders', 'eu.#');
SELECT mq_publish('orders', 'eu.order.created', '{"n": 10}') AS copies;
ROLLBACK;
SELECT mq_publish('orders', 'eu.order.created', '{"n": 11}') AS copies;
BEGIN;
SELECT mq_drop('shipping');
SELECT mq_publish('orders', 'eu.order.created', '{"n": 12}') AS copies;
ROLLBACK;
SELECT mq_purge('audit') + mq_purge('billing') + mq_purge('shipping') AS purged;

-- unbind: true when it removed a binding, false when there was none
SELECT mq_unbind('audit', 'orders', 'eu.#');
SELECT mq_unbind('audit', 'orders', 'eu.#');
SELECT mq_unbind('audit', 'orders', 'never.bound');
SELECT mq_publish('orders', 'eu.order.created', '{"n": 13}') AS copies;

-- dead letters and redrive keep the topic and routing key
SELECT mq_create('fragile', max_attempts => 1);
SELECT mq_bind('fragile', 'orders', 'eu.*.created');
SELECT mq_publish('orders', 'eu.order.created', '{"n": 14}') AS copies;
SELECT mq_nack('fragile', msg_id, error => 'boom') FROM mq_read('fragile');
SELECT body, reason, last_error FROM mq_dead('fragile');
SELECT mq_redrive('fragile');
SELECT body, topic, routing_key FROM mq_pop('fragile');

-- dropping a queue removes its bindings; dropping a topic removes all of
-- its bindings and its grants
SELECT mq_drop('fragile');
SELECT queue, pattern FROM mq_bindings WHERE topic = 'orders' ORDER BY queue, pattern;
SELECT mq_drop('orders');
SELECT count(*) AS bindings FROM mq_bindings;
SELECT count(*) AS grants FROM mq.grant WHERE queue_name = 'orders';
SELECT mq_drop('orders');
SELECT mq_publish('orders', 'eu.order.created', '{}');

--
-- Kinds: queues and topics share one namespace.  A queue function given a
-- topic, or a topic function given a queue, fails with 42809 and names the
-- right function.
--
SELECT mq_create_topic('events');
SELECT mq_create_topic('events');                -- the caller's own: false
SELECT mq_create('events');                      -- taken by a topic
SELECT mq_create_topic('billing');               -- taken by a queue
SELECT queue, owner, visibility_timeout, max_attempts FROM mq_queues WHERE queue = 'events';
SELECT mq_send('events', '{}');
SELECT mq_send_batch('events', ARRAY['{}'::jsonb]);
SELECT mq_read('events');
SELECT mq_pop('events');
SELECT mq_ack('events', 1);
SELECT mq_ack('events', ARRAY[1::bigint]);
SELECT mq_nack('events', 1);
SELECT mq_extend('events', 1, '1 minute');
SELECT mq_dead('events');
SELECT mq_redrive('events');
SELECT mq_status('events', 1);
SELECT mq_metrics('events');
SELECT mq_purge('events');
SELECT mq_alter('events', max_attempts => 3);
SELECT mq_publish('billing', 'a', '{}');
SELECT mq_bind('events', 'events');
SELECT mq_bind('billing', 'billing');
SELECT mq_bind('events', 'billing');
SELECT mq_unbind('billing', 'billing');
SELECT mq_unbind('events', 'events');
SELECT mq_publish('nothing', 'a', '{}');
SELECT mq_bind('billing', 'nothing');
SELECT mq_bind('nothing', 'events');
SELECT mq_unbind('billing', 'nothing');
SELECT mq_unbind('nothing', 'events');
\set VERBOSITY default
SELECT mq_send('events', '{}');
SELECT mq_read('events');
SELECT mq_publish('billing', 'a', '{}');
\set VERBOSITY terse
-- mq_metrics() lists queues only
SELECT count(*) FROM mq_metrics() WHERE queue = 'events';

-- names and arguments are checked as for queues
SELECT mq_create_topic('bad name');
SELECT mq_create_topic(repeat('t', 49));
SELECT mq_create_topic(NULL);
SELECT mq_publish(NULL, 'a', '{}');
SELECT mq_publish('events', NULL, '{}');
SELECT mq_publish('events', 'a', NULL);
SELECT mq_publish('events', 'a', '{}', delay => NULL);
SELECT mq_publish('events', 'a', '{}', delay => '-1 second');
SELECT mq_publish('events', 'a', '{}', headers => '[1]');
SELECT mq_bind('billing', 'events', NULL);
SELECT mq_bind(NULL, 'events');
SELECT mq_bind('billing', 'ev.ents');
SELECT mq_unbind('billing', 'events', NULL);

SELECT mq_drop('events'), mq_drop('billing'), mq_drop('shipping'), mq_drop('audit');
SELECT count(*) FROM mq_queues;
