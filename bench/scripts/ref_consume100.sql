-- read up to 100 (the leases commit), then delete them all
WITH c AS (SELECT msg_id FROM q WHERE visible_at <= now()
		   ORDER BY visible_at, msg_id LIMIT 100 FOR UPDATE SKIP LOCKED),
	 u AS (UPDATE q SET visible_at = now() + interval '30 seconds',
				  attempt = q.attempt + 1
		   FROM c WHERE q.msg_id = c.msg_id RETURNING q.msg_id, q.body)
SELECT array_agg(msg_id) AS ids, array_agg(body) AS bodies FROM u \gset
DELETE FROM q WHERE msg_id = ANY (:ids::bigint[]);
