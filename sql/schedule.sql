-- Schedules: mq_schedule, mq_unschedule, mq_schedules, the cron syntax
-- (five fields, UTC) and its errors.  The worker's sends are tested in
-- test/t/090_schedule.pl.
\set VERBOSITY terse
SELECT mq_create('sch_q');

-- names and arguments
SELECT mq_schedule('', 'sch_q', '* * * * *', '{}');
SELECT mq_schedule('bad name', 'sch_q', '* * * * *', '{}');
SELECT mq_schedule(repeat('s', 49), 'sch_q', '* * * * *', '{}');
SELECT mq_schedule(NULL, 'sch_q', '* * * * *', '{}');
SELECT mq_schedule('s1', 'no_such_queue', '* * * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', NULL, '{}');
SELECT mq_schedule('s1', 'sch_q', '* * * * *', NULL);
SELECT mq_schedule('s1', 'sch_q', '* * * * *', '{}', headers => '[1]');
SELECT mq_unschedule('bad;name');

-- cron errors
SELECT mq_schedule('s1', 'sch_q', '', '{}');
SELECT mq_schedule('s1', 'sch_q', '* * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '* * * * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '60 * * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '* 24 * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '* * 0 * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '* * 32 * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '* * * 13 *', '{}');
SELECT mq_schedule('s1', 'sch_q', '* * * * 8', '{}');
SELECT mq_schedule('s1', 'sch_q', '5-1 * * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '5- * * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '*/0 * * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '5/10 * * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '1,,2 * * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '@daily', '{}');
SELECT mq_schedule('s1', 'sch_q', 'a * * * *', '{}');
SELECT mq_schedule('s1', 'sch_q', '* * * JAN *', '{}');
SELECT mq_schedule('s1', 'sch_q', '0 0 30 2 *', '{}');
SELECT count(*) FROM mq_schedules;

-- the next tick, in UTC, of each kind of field
CREATE FUNCTION pg_temp.next_of(cron text) RETURNS timestamp LANGUAGE plpgsql AS $$
BEGIN
	PERFORM mq_schedule('probe', 'sch_q', cron, '{}');
	RETURN (SELECT next_at AT TIME ZONE 'UTC' FROM mq_schedules WHERE schedule = 'probe');
END $$;
SET TimeZone = 'America/New_York';	-- schedules are in UTC whatever this says
SELECT n > now() AT TIME ZONE 'UTC' AND n <= now() AT TIME ZONE 'UTC' + interval '61 s'
       AND extract(second FROM n) = 0 AS every_minute
  FROM pg_temp.next_of('* * * * *') n;
SELECT extract(minute FROM n) IN (0, 15, 30, 45) AS quarter FROM pg_temp.next_of('*/15 * * * *') n;
SELECT extract(hour FROM n) = 4 AND extract(minute FROM n) = 30
       AND n <= now() AT TIME ZONE 'UTC' + interval '1 day' AS daily_0430
  FROM pg_temp.next_of('30 4 * * *') n;
SELECT extract(hour FROM n) IN (9, 13, 17) AND extract(minute FROM n) = 0
       AND extract(isodow FROM n) BETWEEN 1 AND 5 AS weekdays_9_13_17
  FROM pg_temp.next_of('0 9-17/4 * * 1-5') n;
SELECT extract(dow FROM n) = 0 AS sunday_as_7 FROM pg_temp.next_of('0 0 * * 7') n;
SELECT extract(dow FROM n) = 0 AS sunday_as_0 FROM pg_temp.next_of('0 0 * * 0') n;
SELECT extract(month FROM n) = 2 AND extract(day FROM n) = 29 AS leap_day
  FROM pg_temp.next_of('0 0 29 2 *') n;
SELECT n = date_trunc('year', now() AT TIME ZONE 'UTC') + interval '1 year' AS new_year
  FROM pg_temp.next_of('0 0 1 1 *') n;
-- day of month and day of week both restricted: either matches
SELECT (extract(day FROM n) = 13 OR extract(dow FROM n) = 5)
       AND n <= now() AT TIME ZONE 'UTC' + interval '7 days' AS the_13th_or_friday
  FROM pg_temp.next_of('0 0 13 * 5') n;
-- one restricted, the other "*": the restricted one decides
SELECT extract(day FROM n) = 13 AS the_13th FROM pg_temp.next_of('0 0 13 * *') n;
SELECT extract(dow FROM n) = 5 AS friday FROM pg_temp.next_of('0 0 * * 5') n;
SELECT extract(day FROM n) IN (1, 15) AND extract(minute FROM n) IN (5, 10, 20)
       AND extract(hour FROM n) = 0 AS lists
  FROM pg_temp.next_of('5,10,20 0 1,15 * *') n;
SELECT extract(dow FROM n) IN (1, 3, 5) AS stepped_dow FROM pg_temp.next_of('0 12 * * 1-5/2') n;
RESET TimeZone;
SELECT mq_unschedule('probe');

-- create, replace, list, drop
SELECT mq_schedule('nightly', 'sch_q', '0 2 * * *', '{"job": "report"}', '{"h": 1}');
SELECT mq_schedule('nightly', 'sch_q', '0 3 * * *', '{"job": "report"}');
SELECT schedule, queue, cron, last_at, owner FROM mq_schedules;
SELECT body, headers FROM mq.schedule;
SELECT mq_unschedule('nightly');
SELECT mq_unschedule('nightly');
SELECT mq_schedule('nightly', 'sch_q', '0 2 * * *', '{}');
-- mq_drop removes the queue's schedules
SELECT mq_drop('sch_q');
SELECT count(*) FROM mq.schedule;
