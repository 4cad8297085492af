-- publish to a topic with 1,000 bindings of which one matches: one copy
SELECT mq_publish('bench_t', 'orders.created.eu', :body);
