-- single send per transaction
INSERT INTO ref.q (body) VALUES (:body) RETURNING msg_id;
