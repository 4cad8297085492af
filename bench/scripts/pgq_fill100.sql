-- setup for pgq_consume100.sql: 100 events, then a tick (a batch boundary)
SELECT pgq.insert_event('bench', 'ev', b) FROM unnest(:bodies::text[]) b;
SELECT pgq.ticker('bench');
