/*-------------------------------------------------------------------------
 *
 * acl.c
 *	  Privileges on queues: mq_grant, mq_revoke and the check every call
 *	  makes.
 *
 * A queue belongs to the role that created it.  The owner, members of the
 * owner role and superusers hold every privilege; other roles hold what
 * mq_grant gave them (or a role they are members of): send, read or manage.
 * Grants are rows of mq.grant, loaded into the backend's queue cache entry
 * with the queue's options; mq_grant and mq_revoke send a relcache
 * invalidation for the queue's live table, so every backend reloads them at
 * its next call after the change commits.
 *
 * Topics (topic.c) hold the same privileges, in the same table: mq_grant
 * and mq_revoke on a topic need manage on it and invalidate the backends'
 * topic caches instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "mq.h"

PG_FUNCTION_INFO_V1(mq_grant);
PG_FUNCTION_INFO_V1(mq_revoke);

static SPIPlanPtr load_grants_plan = NULL;

const char *
MqPrivilegeName(MqPrivilege priv)
{
	switch (priv)
	{
		case MQ_PRIV_SEND:
			return "send";
		case MQ_PRIV_READ:
			return "read";
		case MQ_PRIV_MANAGE:
			return "manage";
	}
	if (priv == (MQ_PRIV_SEND | MQ_PRIV_READ))
		return "send or read";
	return "?";
}

static MqPrivilege
mq_privilege_from_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *s;

	MqArgNotNull(fcinfo, argno, "privilege");
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(s, "send") == 0)
		return MQ_PRIV_SEND;
	if (strcmp(s, "read") == 0)
		return MQ_PRIV_READ;
	if (strcmp(s, "manage") == 0)
		return MQ_PRIV_MANAGE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized privilege \"%s\"", s),
			 errhint("The privileges are send, read and manage.")));
	return 0;					/* keep compiler quiet */
}

/*
 * Load the grants of a queue into its cache entry (memory in cxt).  Runs
 * inside an MqBegin'd call.
 */
void
MqLoadGrants(MqQueue *queue, MemoryContext cxt)
{
	MqLoadGrantsFor(queue->name, cxt, &queue->grants, &queue->ngrants);
}

/* The grants on a queue or topic, allocated in cxt (NULL if none). */
void
MqLoadGrantsFor(const char *name, MemoryContext cxt, MqGrant **grants, int *ngrants)
{
	Datum		arg = CStringGetTextDatum(name);
	uint64		i;

	if (load_grants_plan == NULL)
	{
		Oid			argtype = TEXTOID;
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT grantee::pg_catalog.oid, privilege FROM mq.grant"
						   " WHERE queue_name OPERATOR(pg_catalog.=) $1",
						   1, &argtype);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		load_grants_plan = plan;
	}
	if (MqExecuteLatest(load_grants_plan, &arg, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the grants of \"%s\"", name);

	*grants = SPI_processed == 0 ? NULL :
		MemoryContextAlloc(cxt, sizeof(MqGrant) * SPI_processed);
	*ngrants = (int) SPI_processed;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *priv = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));

		(*grants)[i].role = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		(*grants)[i].privilege = strcmp(priv, "send") == 0 ? MQ_PRIV_SEND :
			strcmp(priv, "read") == 0 ? MQ_PRIV_READ : MQ_PRIV_MANAGE;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Raise 42501 for a call on the object name, which the function calls a
 * kind ("queue", "topic"), whatever the object really is: a caller without
 * privilege does not learn its kind.
 */
void
MqPrivilegeDenied(const char *kind, const char *name, MqPrivilege priv)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s \"%s\"", kind, name),
			 errdetail("The %s privilege is required.", MqPrivilegeName(priv)),
			 errhint("The owner of the %s can grant it with mq_grant().", kind)));
}

/* Raise 42501 unless the caller holds priv (or one of a mask) on queue. */
void
MqCheckPrivilege(MqCall *call, MqQueue *queue, MqPrivilege priv)
{
	if (!MqHasPrivilege(call, queue, priv))
		MqPrivilegeDenied("queue", queue->name, priv);
}

/* Does the caller hold priv (or one of the privileges of a mask) on queue? */
bool
MqHasPrivilege(MqCall *call, MqQueue *queue, MqPrivilege priv)
{
	return MqHasPrivilegeOn(call, queue->owner, queue->grants, queue->ngrants, priv);
}

/* ... on an object with this owner and these grants */
bool
MqHasPrivilegeOn(MqCall *call, Oid owner, const MqGrant *grants, int ngrants,
				 MqPrivilege priv)
{
	int			i;

	if (superuser_arg(call->caller) || has_privs_of_role(call->caller, owner))
		return true;
	for (i = 0; i < ngrants; i++)
	{
		if ((grants[i].privilege & priv) != 0 &&
			has_privs_of_role(call->caller, grants[i].role))
			return true;
	}
	return false;
}

/*
 * The caller must hold manage on name, a queue, stream or topic: 42704 if
 * there is no such object, 42501 without the privilege.  Returns the queue
 * or stream, NULL for a topic.
 */
MqQueue *
MqCheckManage(MqCall *call, const char *name)
{
	MqQueue    *queue = MqLookup(call, name, true);
	MqTopic    *topic;

	if (queue != NULL)
	{
		MqCheckPrivilege(call, queue, MQ_PRIV_MANAGE);
		return queue;
	}
	topic = MqTopicLookup(call, name);
	if (topic == NULL)
		MqLookup(call, name, false);	/* raises 42704 */
	else if (!MqTopicHasPrivilege(call, topic, MQ_PRIV_MANAGE))
		MqPrivilegeDenied("topic", name, MQ_PRIV_MANAGE);
	return NULL;
}

/*
 * Grant or revoke; returns true if the grant was added (removed), false if
 * it was already there (not there).  Needs the manage privilege.
 */
static bool
mq_change_grant(FunctionCallInfo fcinfo, bool grant)
{
	char	   *name = MqArgQueueName(fcinfo, 0);
	MqPrivilege priv;
	MqCall		call;
	MqQueue    *queue;
	Oid			argtypes[3] = {TEXTOID, OIDOID, TEXTOID};
	Datum		values[3];
	bool		changed;

	MqArgNotNull(fcinfo, 1, "role");
	priv = mq_privilege_from_arg(fcinfo, 2);
	/* a revoke may clean up after a role that is gone, not a grant */
	if (grant && !SearchSysCacheExists1(AUTHOID, PG_GETARG_DATUM(1)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", PG_GETARG_OID(1)),
				 errhint("Grant to an existing role, by name.")));

	MqBegin(&call, NULL, 0, true);
	queue = MqCheckManage(&call, name);
	values[0] = CStringGetTextDatum(name);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = CStringGetTextDatum(MqPrivilegeName(priv));
	if (SPI_execute_with_args(grant ?
							  "INSERT INTO mq.grant (queue_name, grantee, privilege)"
							  " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING" :
							  "DELETE FROM mq.grant"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1"
							  " AND grantee OPERATOR(pg_catalog.=) $2::pg_catalog.regrole"
							  " AND privilege OPERATOR(pg_catalog.=) $3",
							  3, argtypes, values, NULL, false, 0) < 0)
		elog(ERROR, "could not change the grants of \"%s\"", name);
	changed = (SPI_processed > 0);

	/* every backend (this one included) reloads the grants */
	if (queue != NULL)
		CacheInvalidateRelcacheByRelid(queue->relid);
	else
		MqTopicsChanged(call.nspid);
	MqEnd(&call);
	return changed;
}

Datum
mq_grant(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(mq_change_grant(fcinfo, true));
}

Datum
mq_revoke(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(mq_change_grant(fcinfo, false));
}
