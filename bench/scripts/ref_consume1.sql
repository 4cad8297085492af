-- read 1 (the lease commits), then delete it fenced by attempt
UPDATE q SET visible_at = now() + interval '30 seconds', attempt = attempt + 1
 WHERE msg_id = (SELECT msg_id FROM q WHERE visible_at <= now()
				 ORDER BY visible_at, msg_id LIMIT 1 FOR UPDATE SKIP LOCKED)
 RETURNING msg_id, attempt, body \gset
DELETE FROM q WHERE msg_id = :msg_id AND attempt = :attempt;
