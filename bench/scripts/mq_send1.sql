-- single send per transaction
SELECT mq_send('bench', :body);
