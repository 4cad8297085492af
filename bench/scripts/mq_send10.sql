-- the same ten messages sent one by one, in one transaction
BEGIN;
SELECT mq_send('bench_f1', :body);
SELECT mq_send('bench_f2', :body);
SELECT mq_send('bench_f3', :body);
SELECT mq_send('bench_f4', :body);
SELECT mq_send('bench_f5', :body);
SELECT mq_send('bench_f6', :body);
SELECT mq_send('bench_f7', :body);
SELECT mq_send('bench_f8', :body);
SELECT mq_send('bench_f9', :body);
SELECT mq_send('bench_f10', :body);
COMMIT;
