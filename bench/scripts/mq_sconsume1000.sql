-- consume up to 1000 records of one partition; the position commits
SELECT count(*) FROM mq_consume(:s, 'g', 1000);
