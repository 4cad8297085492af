-- a 100-row INSERT
INSERT INTO q (body) SELECT unnest(:bodies::jsonb[]) RETURNING msg_id;
