-- setup for pgq_consume100.sql at batches of 1000: 1000 events, then a tick
-- (pgq.ticker, called here instead of by pgqd: a batch boundary)
SELECT count(pgq.insert_event('bench', 'ev', :body)) FROM generate_series(1, 1000);
SELECT pgq.ticker('bench');
