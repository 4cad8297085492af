-- 100 events in one statement (PgQ has no batch insert function)
SELECT pgq.insert_event('bench', 'ev', b) FROM unnest(:bodies::text[]) b;
