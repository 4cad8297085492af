-- single send per transaction
INSERT INTO q (body) VALUES (:body) RETURNING msg_id;
