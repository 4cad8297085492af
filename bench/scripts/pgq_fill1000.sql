-- setup for pgq_consume1000.sql: 1000 events into queue sbench<client_id>,
-- then a tick (made here by pgq.ticker(), not by pgqd: a batch boundary)
SELECT count(pgq.insert_event('sbench' || :client_id::text, 'ev', :body)) FROM generate_series(1, 1000);
SELECT pgq.ticker('sbench' || :client_id::text);
