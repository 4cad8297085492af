SELECT count(*) FROM mq_consume(:s, 'g', 1000);
