-- one batch (100 events, one tick apart) in one transaction
BEGIN;
SELECT pgq.next_batch('bench', 'bench') AS batch_id \gset
SELECT array_agg(ev_id) AS ids, array_agg(ev_data) AS bodies FROM pgq.get_batch_events(:batch_id) \gset
SELECT pgq.finish_batch(:batch_id);
COMMIT;
