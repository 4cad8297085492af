/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  Schedules: messages sent to a queue by the background worker on a
 *	  five-field cron schedule in UTC (mq_schedule, mq_unschedule, and the
 *	  worker's MqScheduleRun).
 *
 * A schedule is a row of mq.schedule: its queue, cron text, body, headers,
 * owner (the role that made or last replaced it) and next_at, the next tick.
 * The worker sends a due schedule's message as its owner would (checking
 * that the owner still holds send on the queue; a tick it may not send is
 * logged and skipped), and moves next_at to the first tick after now, in
 * the same transaction as the send.  So each tick sends at most once,
 * whatever crashes, restarts or failovers come between (a transaction that
 * did not commit neither sent nor recorded its tick, and the tick stays
 * due), and ticks missed while no worker ran collapse into the one send
 * made when a worker next runs.
 *
 * Locking: the worker takes a due row FOR UPDATE SKIP LOCKED, so a
 * schedule being replaced or dropped at that moment waits for the next
 * pass; mq_schedule and mq_unschedule lock the row (FOR UPDATE) before they
 * check who may change it.
 *
 * Cron: minute hour day-of-month month day-of-week, each a list of
 * numbers, "*", ranges a-b, and steps: "*" or a range followed by "/n";
 * day of week 0-7, 0 and 7 being Sunday.  When both day fields are restricted (neither begins with
 * "*"), a day matching either is a match, as in Vixie cron and pg_cron.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_schedule);
PG_FUNCTION_INFO_V1(mq_unschedule);

/* the most due schedules the worker sends in one pass */
#define MQ_SCHEDULE_BATCH	1000

typedef struct MqCron
{
	uint64		minutes;		/* bit n: minute n */
	uint32		hours;
	uint32		doms;			/* bit n: day n of the month, 1-31 */
	uint32		months;			/* bit n: month n, 1-12 */
	uint32		dows;			/* bit n: day n of the week, 0-6, 0 Sunday */
	bool		dom_star;
	bool		dow_star;
} MqCron;

static void
mq_cron_error(const char *cron, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid cron schedule \"%s\"", cron),
			 errdetail("%s", detail),
			 errhint("A schedule is five fields in UTC: minute hour day-of-month month day-of-week, "
					 "each a list of numbers, *, a-b, */n or a-b/n.")));
}

/* A number at *p, moved past; -1 if there is none. */
static int
mq_cron_number(const char **p)
{
	int			n = 0;
	int			digits = 0;

	while (**p >= '0' && **p <= '9' && digits < 3)
	{
		n = n * 10 + (**p - '0');
		(*p)++;
		digits++;
	}
	if (digits == 0 || (**p >= '0' && **p <= '9'))
		return -1;
	return n;
}

/* Parse one field of text [p, end) into bits; lo..hi is its range. */
static uint64
mq_cron_field(const char *cron, const char *p, const char *end, int lo, int hi,
			  const char *name)
{
	uint64		bits = 0;

	for (;;)
	{
		int			from,
					to,
					step = 1;
		bool		span = false;	/* "*" or a range: may take a step */

		if (*p == '*')
		{
			from = lo;
			to = hi;
			p++;
			span = true;
		}
		else
		{
			from = mq_cron_number(&p);
			if (from < 0)
				mq_cron_error(cron, psprintf("The %s field must be numbers, *, ranges and steps.", name));
			to = from;
			if (*p == '-')
			{
				p++;
				to = mq_cron_number(&p);
				if (to < 0)
					mq_cron_error(cron, psprintf("A range of the %s field needs an end.", name));
				span = true;
			}
		}
		if (*p == '/')
		{
			if (!span)
				mq_cron_error(cron, psprintf("A step of the %s field must follow * or a range.", name));
			p++;
			step = mq_cron_number(&p);
			if (step < 1)
				mq_cron_error(cron, psprintf("A step of the %s field must be a positive number.", name));
		}
		if (from < lo || to > hi || from > to)
			mq_cron_error(cron, psprintf("The %s field takes %d to %d.", name, lo, hi));
		for (; from <= to; from += step)
			bits |= UINT64CONST(1) << from;
		if (p == end)
			return bits;
		if (*p != ',')
			mq_cron_error(cron, psprintf("The %s field must be numbers, *, ranges and steps.", name));
		p++;
	}
}

static void
mq_cron_parse(const char *cron, MqCron *c)
{
	const char *fields[5];
	const char *ends[5];
	const char *p = cron;
	int			n = 0;
	uint64		dows;

	while (*p)
	{
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (n == 5)
			mq_cron_error(cron, "It has more than five fields.");
		fields[n] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		ends[n++] = p;
	}
	if (n < 5)
		mq_cron_error(cron, "It has fewer than five fields.");
	c->minutes = mq_cron_field(cron, fields[0], ends[0], 0, 59, "minute");
	c->hours = (uint32) mq_cron_field(cron, fields[1], ends[1], 0, 23, "hour");
	c->doms = (uint32) mq_cron_field(cron, fields[2], ends[2], 1, 31, "day-of-month");
	c->months = (uint32) mq_cron_field(cron, fields[3], ends[3], 1, 12, "month");
	dows = mq_cron_field(cron, fields[4], ends[4], 0, 7, "day-of-week");
	c->dows = (uint32) ((dows & 0x7f) | ((dows >> 7) & 1));	/* 7 is Sunday */
	c->dom_star = (*fields[2] == '*');
	c->dow_star = (*fields[4] == '*');
}

static bool
mq_cron_day(const MqCron *c, int year, int month, int day)
{
	bool		dom = (c->doms >> day) & 1;
	bool		dow = (c->dows >> j2day(date2j(year, month, day))) & 1;

	if (!((c->months >> month) & 1))
		return false;
	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

/*
 * The first tick strictly after "after", in UTC; DT_NOEND if none comes in
 * the next 8 years (a day that never comes, such as February 30).
 */
static TimestampTz
mq_cron_next(const MqCron *c, TimestampTz after)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			start_hour,
				start_minute;
	int			jd,
				i;

	if (timestamp2tm(after, NULL, &tm, &fsec, NULL, NULL) != 0)
		return DT_NOEND;
	/* the next whole minute */
	start_hour = tm.tm_hour;
	start_minute = tm.tm_min + 1;
	jd = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
	for (i = 0; i < 366 * 8; i++, jd++, start_hour = 0, start_minute = 0)
	{
		int			year,
					month,
					day,
					hour,
					minute;

		j2date(jd, &year, &month, &day);
		if (!mq_cron_day(c, year, month, day))
			continue;
		for (hour = start_hour; hour < 24; hour++, start_minute = 0)
		{
			if (!((c->hours >> hour) & 1))
				continue;
			for (minute = start_minute; minute < 60; minute++)
			{
				TimestampTz result;

				if (!((c->minutes >> minute) & 1))
					continue;
				memset(&tm, 0, sizeof(tm));
				tm.tm_year = year;
				tm.tm_mon = month;
				tm.tm_mday = day;
				tm.tm_hour = hour;
				tm.tm_min = minute;
				if (tm2timestamp(&tm, 0, NULL, &result) != 0)
					return DT_NOEND;
				return result;
			}
		}
	}
	return DT_NOEND;
}

/* A schedule name follows the rules of queue names. */
static char *
mq_arg_schedule_name(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;
	const char *p;

	MqArgNotNull(fcinfo, argno, "schedule");
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strlen(name) == 0 || strlen(name) > MQ_NAME_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid schedule name"),
				 errdetail("A schedule name must be 1 to %d characters long.", MQ_NAME_MAXLEN)));
	for (p = name; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid schedule name"),
					 errdetail("A schedule name may contain only ASCII letters, digits, \"_\" and \"-\".")));
	}
	return name;
}

static void
mq_schedule_table(MqCall *call)
{
	if (!OidIsValid(get_relname_relid("schedule", call->nspid)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("schedules need mq 0.2"),
				 errhint("Run ALTER EXTENSION mq UPDATE.")));
}

/*
 * Lock the schedule's row and check that the caller may replace or drop
 * it: its owner (or a role with the owner's privileges), or a holder of
 * manage on its queue.  False if there is no such schedule.
 */
static bool
mq_schedule_lock(MqCall *call, const char *schedule)
{
	Oid			argtype = TEXTOID;
	Datum		arg = CStringGetTextDatum(schedule);
	bool		isnull;
	Oid			owner;
	char	   *queue_name;
	MqQueue    *queue;

	if (SPI_execute_with_args("SELECT owner::pg_catalog.oid, queue_name FROM mq.schedule"
							  " WHERE schedule OPERATOR(pg_catalog.=) $1 FOR UPDATE",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the schedules");
	if (SPI_processed == 0)
		return false;
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   1, &isnull));
	queue_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (superuser_arg(call->caller) || has_privs_of_role(call->caller, owner))
		return true;
	queue = MqLookup(call, queue_name, true);
	if (queue != NULL && MqHasPrivilege(call, queue, MQ_PRIV_MANAGE))
		return true;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for schedule \"%s\"", schedule),
			 errdetail("Only its owner or a holder of manage on queue \"%s\" may change it.",
					   queue_name)));
	return false;				/* keep the compiler quiet */
}

/*
 * Create or replace a schedule; true if created, false if it replaced one
 * of that name.  Needs send on the queue; replacing needs, besides, being
 * the schedule's owner or holding manage on its (old) queue.  The caller
 * becomes the owner.
 */
Datum
mq_schedule(PG_FUNCTION_ARGS)
{
	char	   *schedule = mq_arg_schedule_name(fcinfo, 0);
	char	   *name = MqArgQueueName(fcinfo, 1);
	char	   *cron;
	MqCron		c;
	MqCall		call;
	TimestampTz next;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			argtypes[7] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, OIDOID,
	TIMESTAMPTZOID};
	bool		replaced;

	MqArgNotNull(fcinfo, 2, "cron");
	cron = text_to_cstring(PG_GETARG_TEXT_PP(2));
	mq_cron_parse(cron, &c);
	MqArgNotNull(fcinfo, 3, "body");
	MqCheckBody(PG_GETARG_DATUM(3), "body");
	if (!PG_ARGISNULL(4))
		MqCheckHeaders(PG_GETARG_DATUM(4));
	next = mq_cron_next(&c, GetCurrentTimestamp());
	if (next == DT_NOEND)
		mq_cron_error(cron, "It never matches a day.");

	MqBegin(&call, name, MQ_PRIV_SEND, false);
	mq_schedule_table(&call);
	replaced = mq_schedule_lock(&call, schedule);

	values[0] = CStringGetTextDatum(schedule);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(cron);
	values[3] = PG_GETARG_DATUM(3);
	values[4] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	nulls[4] = PG_ARGISNULL(4) ? 'n' : ' ';
	values[5] = ObjectIdGetDatum(call.caller);
	values[6] = TimestampTzGetDatum(next);
	if (SPI_execute_with_args("INSERT INTO mq.schedule AS s (schedule, queue_name, cron,"
							  " body, headers, owner, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
							  " ON CONFLICT (schedule) DO UPDATE SET queue_name = EXCLUDED.queue_name,"
							  " cron = EXCLUDED.cron, body = EXCLUDED.body,"
							  " headers = EXCLUDED.headers, owner = EXCLUDED.owner,"
							  " next_at = EXCLUDED.next_at",
							  7, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write the schedule");
	MqEnd(&call);
	PG_RETURN_BOOL(!replaced);
}

/* Drop a schedule; false if there is none of that name. */
Datum
mq_unschedule(PG_FUNCTION_ARGS)
{
	char	   *schedule = mq_arg_schedule_name(fcinfo, 0);
	MqCall		call;
	bool		found;

	MqBegin(&call, NULL, 0, true);
	mq_schedule_table(&call);
	found = mq_schedule_lock(&call, schedule);
	if (found)
	{
		Oid			argtype = TEXTOID;
		Datum		arg = CStringGetTextDatum(schedule);

		if (SPI_execute_with_args("DELETE FROM mq.schedule"
								  " WHERE schedule OPERATOR(pg_catalog.=) $1",
								  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete the schedule");
	}
	MqEnd(&call);
	PG_RETURN_BOOL(found);
}

/*
 * One due schedule, in the current transaction: send its message as its
 * owner and record the tick.  False if none was due.  *next is brought
 * forward to the next tick of any schedule when none is due.
 */
static bool
mq_schedule_one(TimestampTz now, TimestampTz *next)
{
	MqCall		call;
	Datum		arg = TimestampTzGetDatum(now);
	Oid			argtype = TIMESTAMPTZOID;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *schedule;
	char	   *queue_name;
	char	   *cron;
	Oid			owner;
	Datum		body;
	Datum		headers;
	bool		noheaders;
	MqQueue    *queue;
	MqCron		c;
	bool		sent = false;
	Datum		uvalues[3];
	Oid			utypes[3] = {TEXTOID, TIMESTAMPTZOID, BOOLOID};

	MqBegin(&call, NULL, 0, true);
	if (!OidIsValid(get_relname_relid("schedule", call.nspid)))
	{
		MqEnd(&call);
		return false;
	}
	if (SPI_execute_with_args("SELECT schedule, queue_name, cron, owner::pg_catalog.oid,"
							  " body, headers FROM mq.schedule"
							  " WHERE next_at OPERATOR(pg_catalog.<=) $1"
							  " ORDER BY next_at LIMIT 1 FOR UPDATE SKIP LOCKED",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the schedules");
	if (SPI_processed == 0)
	{
		if (SPI_execute("SELECT pg_catalog.min(next_at) FROM mq.schedule", true, 1) == SPI_OK_SELECT)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  1, &isnull);

			if (!isnull)
				*next = Min(*next, DatumGetTimestampTz(d));
		}
		MqEnd(&call);
		return false;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	schedule = SPI_getvalue(tup, desc, 1);
	queue_name = SPI_getvalue(tup, desc, 2);
	cron = SPI_getvalue(tup, desc, 3);
	owner = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
	body = SPI_getbinval(tup, desc, 5, &isnull);
	headers = SPI_getbinval(tup, desc, 6, &noheaders);

	/* the owner's rights, as of now */
	call.caller = owner;
	queue = MqLookup(&call, queue_name, true);
	if (queue == NULL)
		ereport(LOG,
				(errmsg("mq schedule \"%s\": queue \"%s\" does not exist; tick skipped",
						schedule, queue_name)));
	else if (!MqHasPrivilege(&call, queue, MQ_PRIV_SEND))
		ereport(LOG,
				(errmsg("mq schedule \"%s\": its owner no longer holds send on queue \"%s\"; tick skipped",
						schedule, queue_name)));
	else
	{
		Datum		values[MQ_MAX_ARGS];
		char		nulls[MQ_MAX_ARGS];

		memset(nulls, ' ', sizeof(nulls));
		values[0] = TimestampTzGetDatum(now);
		values[1] = body;
		values[2] = headers;
		nulls[2] = noheaders ? 'n' : ' ';
		values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		MqSendOne(queue, values, nulls, NULL, 0, NULL);
		MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT |
						 (queue->notify ? MQ_NOTIFY_ON_COMMIT : 0));
		sent = true;
	}

	/* the next tick after now: ticks missed meanwhile collapse into this one */
	mq_cron_parse(cron, &c);
	uvalues[0] = CStringGetTextDatum(schedule);
	uvalues[1] = TimestampTzGetDatum(mq_cron_next(&c, now));
	uvalues[2] = BoolGetDatum(sent);
	if (SPI_execute_with_args("UPDATE mq.schedule SET next_at = $2,"
							  " last_at = CASE WHEN $3 THEN pg_catalog.now() ELSE last_at END"
							  " WHERE schedule OPERATOR(pg_catalog.=) $1",
							  3, utypes, uvalues, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the tick of schedule \"%s\"", schedule);
	MqEnd(&call);
	return true;
}

/*
 * The worker's part: send the due schedules of this database, each tick in
 * a transaction of its own (see the file header).  Brings *next forward to
 * the next tick.
 */
void
MqScheduleRun(TimestampTz *next)
{
	int			i;

	for (i = 0; i < MQ_SCHEDULE_BATCH; i++)
	{
		bool		more;

		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "sending scheduled messages");
		more = mq_schedule_one(GetCurrentTimestamp(), next);
		PopActiveSnapshot();
		CommitTransactionCommand();
		if (!more)
			break;
		CHECK_FOR_INTERRUPTS();
	}
}
