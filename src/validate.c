/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Checks of user input, shared by every SQL-callable function.
 *
 * Every check here runs before any SQL is built or executed, so a bad call
 * fails with its SQLSTATE and changes nothing.  No locks are taken.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "mq.h"

/*
 * A queue name is 1 to MQ_NAME_MAXLEN characters of ASCII letters, digits,
 * '_' and '-'.  Names are case-sensitive.  Since the name becomes part of
 * table names, nothing else may pass.  Topics share the namespace and its
 * rules; kind names the argument in the error.
 */
void
MqCheckName(const char *name, const char *kind)
{
	size_t		len = strlen(name);
	const char *p;

	if (len == 0 || len > MQ_NAME_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s name", kind),
				 errdetail("A %s name must be 1 to %d characters long.",
						   kind, MQ_NAME_MAXLEN)));

	for (p = name; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s name", kind),
					 errdetail("A %s name may contain only ASCII letters, digits, \"_\" and \"-\".",
							   kind)));
	}
}

void
MqCheckQueueName(const char *name)
{
	MqCheckName(name, "queue");
}

/* Fetch and check the name argument of an object of a kind ("topic"). */
char *
MqArgName(FunctionCallInfo fcinfo, int argno, const char *kind)
{
	char	   *name;

	MqArgNotNull(fcinfo, argno, kind);
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	MqCheckName(name, kind);
	return name;
}

/* Fetch and check the queue name argument. */
char *
MqArgQueueName(FunctionCallInfo fcinfo, int argno)
{
	return MqArgName(fcinfo, argno, "queue");
}

void
MqArgNotNull(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/*
 * Convert an interval to microseconds.  A month counts as a twelfth of 365.25
 * days, as in EXTRACT(epoch FROM interval), so "100 years" is exactly the
 * limit.  Negative intervals (and zero, unless allowed) and intervals over
 * 100 years are rejected.
 */
int64
MqIntervalUsecs(Datum interval, const char *what, bool allow_zero)
{
	Interval   *iv = DatumGetIntervalP(interval);
	int64		usecs;
	int64		part;

	if (pg_mul_s64_overflow((int64) iv->month,
							(SECS_PER_YEAR / MONTHS_PER_YEAR) * USECS_PER_SEC, &usecs) ||
		pg_mul_s64_overflow((int64) iv->day, USECS_PER_DAY, &part) ||
		pg_add_s64_overflow(usecs, part, &usecs) ||
		pg_add_s64_overflow(usecs, iv->time, &usecs))
	{
		/* too large either way to add up exactly: its sign decides */
		usecs = ((double) iv->month * (SECS_PER_YEAR / MONTHS_PER_YEAR) * USECS_PER_SEC +
				 (double) iv->day * USECS_PER_DAY + (double) iv->time) < 0 ?
			PG_INT64_MIN : PG_INT64_MAX;
	}
	if (usecs > MQ_MAX_INTERVAL_USECS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not exceed 100 years", what)));
	if (usecs < 0 || (usecs == 0 && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s zero", what,
						allow_zero ? "greater than or equal to" : "greater than")));
	return usecs;
}

/* Fetch and check a qty argument. */
int32
MqArgQty(FunctionCallInfo fcinfo, int argno)
{
	int32		qty;

	MqArgNotNull(fcinfo, argno, "qty");
	qty = PG_GETARG_INT32(argno);

	if (qty < 1 || qty > MQ_MAX_QTY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("qty must be between 1 and %d", MQ_MAX_QTY)));
	return qty;
}

int32
MqCheckMaxAttempts(int32 value)
{
	if (value < 1 || value > MQ_MAX_ATTEMPTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be between 1 and %d", MQ_MAX_ATTEMPTS)));
	return value;
}

/*
 * A body must fit in mq.max_message_size.  The size is the stored (jsonb)
 * size before compression, read from the varlena header without detoasting.
 */
void
MqCheckBody(Datum body, const char *what)
{
	Size		size = toast_raw_datum_size(body);

	if (size > (Size) mq_max_message_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too large", what),
				 errdetail("The message is %zu bytes; mq.max_message_size is %d bytes.",
						   size, mq_max_message_size)));
}

/*
 * A nack's error, cut to MQ_MAX_ERROR_LEN bytes (at a character boundary):
 * an error is a diagnostic, and a consumer that fails with a huge one should
 * still get its message retried rather than an error of its own.
 */
Datum
MqErrorArg(text *error)
{
	int			len = VARSIZE_ANY_EXHDR(error);

	if (len <= MQ_MAX_ERROR_LEN)
		return PointerGetDatum(error);
	len = pg_mbcliplen(VARDATA_ANY(error), len, MQ_MAX_ERROR_LEN);
	return PointerGetDatum(cstring_to_text_with_len(VARDATA_ANY(error), len));
}

/* Headers are NULL or a JSON object. */
void
MqCheckHeaders(Datum headers)
{
	Jsonb	   *jb = DatumGetJsonbP(headers);

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers must be a JSON object")));
	MqCheckBody(headers, "headers");
}

/* ts + usecs, where usecs has passed MqIntervalUsecs. */
TimestampTz
MqAddUsecs(TimestampTz ts, int64 usecs)
{
	TimestampTz result;

	if (pg_add_s64_overflow(ts, usecs, &result) || !IS_VALID_TIMESTAMP(result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return result;
}
