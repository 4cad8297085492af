-- single send per transaction
SELECT mq_send(:q, :body);
