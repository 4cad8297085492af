-- steady state at a fixed backlog: send 1, read the oldest, delete it.
-- With several clients and a backlog of 1 a read may find nothing (another
-- client took the messages its snapshot showed); then there is nothing to
-- delete.
INSERT INTO q (body) VALUES (:body) RETURNING msg_id;
\set msg_id 0
UPDATE q SET visible_at = now() + interval '30 seconds', attempt = attempt + 1
 WHERE msg_id = (SELECT msg_id FROM q WHERE visible_at <= now()
				 ORDER BY visible_at, msg_id LIMIT 1 FOR UPDATE SKIP LOCKED)
 RETURNING msg_id, attempt \aset
\if :msg_id > 0
DELETE FROM q WHERE msg_id = :msg_id AND attempt = :attempt;
\endif
