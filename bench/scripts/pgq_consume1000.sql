-- one batch (the 1000 events between two ticks) of queue sbench<client_id>
-- in one transaction: each client is the one consumer of its own queue
BEGIN;
SELECT pgq.next_batch('sbench' || :client_id::text, 'bench') AS batch_id \gset
SELECT array_agg(ev_id) AS ids, array_agg(ev_data) AS bodies FROM pgq.get_batch_events(:batch_id) \gset
SELECT pgq.finish_batch(:batch_id);
COMMIT;
