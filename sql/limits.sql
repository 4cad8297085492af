-- Bounds on what callers may store or name.
\set VERBOSITY terse
SELECT mq_create('lim', max_attempts => 2);
-- grants go only to roles that exist
SELECT mq_grant('lim', 12345678::oid::regrole, 'send');
SELECT mq_grant('lim', '-'::regrole, 'read');
SELECT count(*) FROM mq.grant;
-- a revoke of a grant to a role that is gone is allowed (and finds none)
SELECT mq_revoke('lim', 12345678::oid::regrole, 'send');

-- a nack's error is cut to 8192 bytes, at a character boundary
SELECT mq_send('lim', '{}') AS id \gset
SELECT msg_id = :id FROM mq_read('lim');
SELECT mq_nack('lim', :id, delay => '0', error => repeat('é', 100000));
SELECT octet_length(last_error), last_error = repeat('é', 4096)
  FROM mq_status('lim', :id);
SELECT count(*) FROM mq_read('lim');
SELECT mq_nack('lim', :id, error => repeat('x', 50 * 1024 * 1024));
SELECT octet_length(last_error) FROM mq_dead('lim');

-- negative intervals, however large, are reported as negative
SELECT mq_send('lim', '{}', delay => '-1 second');
SELECT mq_send('lim', '{}', delay => '-178000000 years');
SELECT mq_send('lim', '{}', delay => '-2147483647 days -2147483647 months');
SELECT mq_create('lim2', visibility_timeout => '-9223372036854775807 microseconds -2147483647 days');
SELECT mq_send('lim', '{}', delay => '178000000 years');
SELECT mq_drop('lim');
