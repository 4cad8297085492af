-- single append per transaction (stream :s, 1 partition)
SELECT mq_append(:s, :body);
