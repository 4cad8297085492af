-- publish once to a topic 10 queues are bound to: ten copies
SELECT mq_publish('bench_f', 'orders.created.eu', :body);
