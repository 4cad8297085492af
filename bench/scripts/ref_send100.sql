-- a 100-row INSERT
INSERT INTO ref.q (body) SELECT unnest(:bodies::jsonb[]) RETURNING msg_id;
