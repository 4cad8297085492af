-- The worked example of the README: an order and its "order created" message
-- commit together; a consumer reads, works, acks; a failure is nacked.
--
--   psql -X -d DB -f examples/orders.sql
\set ON_ERROR_STOP on
CREATE EXTENSION IF NOT EXISTS mq;
CREATE TABLE IF NOT EXISTS orders (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer	text NOT NULL,
	total		numeric NOT NULL,
	status		text NOT NULL DEFAULT 'new'
);
SELECT mq_create('order_events', visibility_timeout => '30 seconds', max_attempts => 3,
				 retention => '1 hour');

-- Producer: the order row and its message in one transaction.
BEGIN;
WITH o AS (INSERT INTO orders (customer, total) VALUES ('ada', 42.50) RETURNING id, customer, total)
SELECT mq_send('order_events',
			   jsonb_build_object('event', 'order_created', 'order_id', o.id, 'total', o.total),
			   headers => '{"source": "shop"}')
  FROM o;
COMMIT;

-- A producer that rolls back leaves neither the order nor the message.
BEGIN;
WITH o AS (INSERT INTO orders (customer, total) VALUES ('bob', 10) RETURNING id)
SELECT mq_send('order_events', jsonb_build_object('event', 'order_created', 'order_id', o.id)) FROM o;
ROLLBACK;

-- Consumer: read, do the work in the same transaction, ack.
BEGIN;
SELECT msg_id, attempt, body FROM mq_read('order_events', qty => 10) \gset m_
UPDATE orders SET status = 'confirmed' WHERE id = (:'m_body'::jsonb ->> 'order_id')::bigint;
SELECT mq_ack('order_events', :m_msg_id, attempt => :m_attempt, result => '{"confirmed": true}');
COMMIT;
SELECT id, customer, status FROM orders;
SELECT state, attempt, result FROM mq_status('order_events', :m_msg_id);

-- A failure: nack with a delay; after max_attempts failures it is dead-lettered.
SELECT mq_send('order_events', '{"event": "order_created", "order_id": -1}') AS bad \gset
SELECT attempt FROM mq_read('order_events');
SELECT mq_nack('order_events', :bad, delay => '0', error => 'order -1 not found');
SELECT attempt FROM mq_read('order_events');
SELECT mq_nack('order_events', :bad, delay => '0', error => 'order -1 not found');
SELECT attempt FROM mq_read('order_events');
SELECT mq_nack('order_events', :bad, error => 'order -1 not found');
SELECT msg_id, attempt, reason, last_error FROM mq_dead('order_events');
SELECT * FROM mq_metrics('order_events');
