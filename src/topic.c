/*-------------------------------------------------------------------------
 *
 * topic.c
 *	  Topics: mq_create_topic, mq_bind, mq_unbind, mq_publish, and the
 *	  per-backend cache that routes a publish to its targets.
 *
 * A topic is a row of the catalog mq.queue with kind 'topic' (its queue
 * options NULL): it has an owner and grants (mq.grant) like a queue, and no
 * tables.  Bindings are rows of mq.binding (queue_name, topic_name,
 * pattern), where queue_name names a queue or a stream (the targets); both
 * names reference mq.queue ON DELETE CASCADE, so dropping a queue, stream
 * or topic removes its bindings.  A publish puts one copy into each bound
 * target whose pattern matches the routing key, however many of its
 * patterns match, in the caller's transaction, with no privilege check on
 * the targets: the binder needed manage on the target and read on the
 * topic, so both owners consented to the path.  A queue's copy is inserted
 * with the publish's delay; a stream's is appended at once, through
 * MqStreamAppend (stream.c), the path of mq_append itself, so that the
 * order of records (stream_order.c), the wake-ups of waiting consumes and
 * the count of appends hold for published copies as for appends.  A copy
 * has a NULL key and goes to a partition as a keyless append does.
 *
 * Routing.  Each backend caches, per topic, its owner, grants and a trie of
 * its patterns over words: a node's children are the words that may follow
 * (one hash table per topic, keyed by node and word), plus one child for
 * "*" and one for "#".  A publish walks the trie along the routing key's
 * words, so its cost depends on the key's length and the patterns that
 * match, not on the number of bindings.  Walking a "#" node tries every
 * number of words it may swallow; each "#" node remembers, per publish, the
 * words it was tried from, so no (node, word) pair is visited twice and
 * even patterns such as "#.#.#" cost at most nodes x words.  Targets are
 * marked per publish, so each gets one copy.
 *
 * Invalidation.  Every change of a topic or its bindings (create, drop,
 * grant, revoke, bind, unbind, and the drop of a queue or stream, which may
 * have taken bindings with it) sends a relcache invalidation for mq.binding;
 * a callback bumps a generation counter, and a cached topic is valid only
 * while it was loaded at the current generation.  The counter is read
 * before loading, so an invalidation that arrives during a load leaves the
 * entry invalid for the next call.  Changes are rare; any of them reloads
 * every topic of the backend, one query each, at its next publish.
 *
 * Concurrency.  A publish routes by the bindings committed when the call
 * starts: it accepts pending invalidations first (as a statement that
 * opens a table would), and loads with the latest snapshot (MqExecuteLatest),
 * not the transaction's.  It never waits for a bind or unbind in progress
 * and does not see it; a bind committed before the call began is seen,
 * also inside a transaction (REPEATABLE READ included) that began earlier.
 * A bind takes no lock on the topic: the insert into mq.binding locks the
 * catalog rows it references (KEY SHARE, by the foreign keys), so mq_drop
 * of either side waits for it and then removes it, or the bind fails the
 * foreign key if the drop committed first; no binding outlives its queue
 * or topic.  Before inserting a copy, a publish locks the queue's live
 * table, or the stream's table of records (RowExclusiveLock, as the insert
 * would), and checks that it still exists: a target dropped meanwhile is
 * skipped, never an error, because a publisher must not fail because of a
 * binding.  mq_drop of a stream locks its table of records before its
 * segments, as a publish (and an append) does before the segment it
 * writes; so either the drop waits for the publish's transaction or the
 * publish for the drop's, and then skips the stream.  Two publishes take
 * their targets' locks in the same order (by name), and RowExclusiveLock
 * does not conflict with itself.  Binds of one triple serialise on the
 * primary key of mq.binding (the second returns false).  See
 * test/isolation/specs/topic-bind-race.spec and topic-stream-race.spec.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "mq.h"
#include "stream.h"

PG_FUNCTION_INFO_V1(mq_create_topic);
PG_FUNCTION_INFO_V1(mq_bind);
PG_FUNCTION_INFO_V1(mq_unbind);
PG_FUNCTION_INFO_V1(mq_publish);

/* longest routing key or pattern, in characters */
#define MQ_ROUTING_KEY_MAXLEN		255

/* A node of a topic's trie; children are found through MqTrieEdge. */
typedef struct MqTrieNode
{
	int32		star;			/* child for "*", or -1 */
	int32		hash;			/* child for "#", or -1 */
	int32		ntargets;		/* targets with a pattern ending here */
	int32		maxtargets;
	int32	   *targets;		/* indexes into MqTopic.targets */
	uint64		memo_stamp;		/* "#" nodes: the walk that last tried it */
	int			memo_from;		/* ... and from which word on */
} MqTrieNode;

/* The child of node parent for word (a word of a pattern, not * or #). */
typedef struct MqTrieKey
{
	int32		parent;
	const char *word;
} MqTrieKey;

typedef struct MqTrieEdge
{
	MqTrieKey	key;
	int32		child;
} MqTrieEdge;

/* A topic as cached by a backend. */
struct MqTopic
{
	char		name[MQ_NAME_MAXLEN + 1];	/* hash key */
	uint64		generation;		/* valid while equal to topic_generation */
	MemoryContext cxt;			/* everything below */
	Oid			owner;
	int			ngrants;
	MqGrant    *grants;
	int32		nnodes;
	int32		maxnodes;
	MqTrieNode *nodes;			/* nodes[0] is the root */
	HTAB	   *edges;
	int32		ntargets;
	char	  **targets;		/* bound queues and streams, by name */
	uint64	   *seen;			/* per target: the walk that last hit it */
};

/* A walk of a topic's trie along one routing key. */
typedef struct MqWalk
{
	MqTopic    *topic;
	char	  **words;
	int			nwords;
	uint64		stamp;
	int32	   *hits;			/* distinct targets, in the order found */
	int			nhits;
} MqWalk;

static HTAB *topic_cache = NULL;
static MemoryContext topic_cache_cxt = NULL;
static uint64 topic_generation = 1;
static uint64 walk_stamp = 0;
/* the relation whose invalidations mean "topics changed" */
static Oid	binding_relid = InvalidOid;
static SPIPlanPtr load_topic_plan = NULL;
static SPIPlanPtr load_bindings_plan = NULL;

static void
mq_topic_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || (OidIsValid(binding_relid) && relid == binding_relid))
		topic_generation++;
}

void
MqTopicCacheInit(void)
{
	CacheRegisterRelcacheCallback(mq_topic_relcache_callback, (Datum) 0);
}

/* The OID of mq.binding, or InvalidOid in a database still on 0.1. */
Oid
MqBindingRelid(Oid nspid)
{
	binding_relid = get_relname_relid("binding", nspid);
	return binding_relid;
}

/*
 * Tell every backend (this one at once) that a topic or its bindings
 * changed; other backends see it when the transaction commits.
 */
void
MqTopicsChanged(Oid nspid)
{
	Oid			relid = MqBindingRelid(nspid);

	if (!OidIsValid(relid))
		return;
	CacheInvalidateRelcacheByRelid(relid);
	topic_generation++;
}

/*
 * Split a routing key or, with pattern, a binding's pattern into its words,
 * in place.  Raises 22023 unless s is 1 to MQ_ROUTING_KEY_MAXLEN characters of
 * words of [A-Za-z0-9_-] joined by dots, where a word of a pattern may
 * also be "*" or "#".
 */
static int
mq_split_words(char *s, bool pattern, char ***words)
{
	const char *what = pattern ? "pattern" : "routing key";
	size_t		len = strlen(s);
	int			n = 1;
	int			i;
	char	   *p;
	char	   *word;

	if (len == 0 || len > MQ_ROUTING_KEY_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s", what),
				 errdetail("A %s must be 1 to %d characters long.", what, MQ_ROUTING_KEY_MAXLEN)));
	for (p = s; *p; p++)
		if (*p == '.')
			n++;
	*words = palloc(sizeof(char *) * n);

	word = s;
	for (i = 0; i < n; i++)
	{
		char	   *end = strchr(word, '.');

		if (end != NULL)
			*end = '\0';
		if (*word == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s", what),
					 errdetail("Word %d of the %s is empty.", i + 1, what),
					 errhint("Words are joined by single dots, as in \"eu.order.created\".")));
		if (!(pattern && (strcmp(word, "*") == 0 || strcmp(word, "#") == 0)))
		{
			for (p = word; *p; p++)
			{
				if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid %s", what),
							 errdetail("Word %d of the %s is not made of ASCII letters, digits, \"_\" and \"-\"%s.",
									   i + 1, what,
									   pattern ? ", nor is it \"*\" or \"#\"" : "")));
			}
		}
		(*words)[i] = word;
		if (end != NULL)
			word = end + 1;
	}
	return n;
}

/* Fetch and check a routing key or pattern argument; returns its words. */
static int
mq_arg_words(FunctionCallInfo fcinfo, int argno, bool pattern, char ***words)
{
	MqArgNotNull(fcinfo, argno, pattern ? "pattern" : "routing_key");
	return mq_split_words(text_to_cstring(PG_GETARG_TEXT_PP(argno)), pattern, words);
}

static uint32
mq_edge_hash(const void *key, Size keysize)
{
	const MqTrieKey *k = key;

	return hash_combine(murmurhash32((uint32) k->parent),
						hash_bytes((const unsigned char *) k->word, strlen(k->word)));
}

static int
mq_edge_compare(const void *key1, const void *key2, Size keysize)
{
	const MqTrieKey *a = key1;
	const MqTrieKey *b = key2;

	return (a->parent == b->parent && strcmp(a->word, b->word) == 0) ? 0 : 1;
}

static int32
mq_trie_new_node(MqTopic *topic)
{
	MqTrieNode *node;

	if (topic->nnodes == topic->maxnodes)
	{
		topic->maxnodes *= 2;
		topic->nodes = repalloc(topic->nodes, sizeof(MqTrieNode) * topic->maxnodes);
	}
	node = &topic->nodes[topic->nnodes];
	memset(node, 0, sizeof(MqTrieNode));
	node->star = node->hash = -1;
	return topic->nnodes++;
}

/* Add a pattern (split into its words, in topic->cxt) ending at target. */
static void
mq_trie_add(MqTopic *topic, char **words, int nwords, int32 target)
{
	int32		node = 0;
	int			i;
	MqTrieNode *n;

	for (i = 0; i < nwords; i++)
	{
		int32		child;

		if (strcmp(words[i], "*") == 0 || strcmp(words[i], "#") == 0)
		{
			bool		star = words[i][0] == '*';

			child = star ? topic->nodes[node].star : topic->nodes[node].hash;
			if (child < 0)
			{
				child = mq_trie_new_node(topic);
				if (star)
					topic->nodes[node].star = child;
				else
					topic->nodes[node].hash = child;
			}
		}
		else
		{
			MqTrieKey	key = {node, words[i]};
			MqTrieEdge *edge;
			bool		found;

			edge = hash_search(topic->edges, &key, HASH_ENTER, &found);
			if (!found)
				edge->child = mq_trie_new_node(topic);
			child = edge->child;
		}
		node = child;
	}

	n = &topic->nodes[node];
	if (n->ntargets > 0 && n->targets[n->ntargets - 1] == target)
		return;
	if (n->ntargets == n->maxtargets)
	{
		n->maxtargets = Max(4, n->maxtargets * 2);
		n->targets = n->targets == NULL ?
			MemoryContextAlloc(topic->cxt, sizeof(int32) * n->maxtargets) :
			repalloc(n->targets, sizeof(int32) * n->maxtargets);
	}
	n->targets[n->ntargets++] = target;
}

static void mq_walk_hash(MqWalk *walk, int32 node, int from);

/* Match the words from word i on at node. */
static void
mq_walk_node(MqWalk *walk, int32 node, int i)
{
	MqTrieNode *n = &walk->topic->nodes[node];

	CHECK_FOR_INTERRUPTS();
	if (n->hash >= 0)
		mq_walk_hash(walk, n->hash, i);
	if (i == walk->nwords)
	{
		int			t;

		for (t = 0; t < n->ntargets; t++)
		{
			int32		target = n->targets[t];

			if (walk->topic->seen[target] != walk->stamp)
			{
				walk->topic->seen[target] = walk->stamp;
				walk->hits[walk->nhits++] = target;
			}
		}
		return;
	}
	if (walk->topic->edges != NULL)
	{
		MqTrieKey	key = {node, walk->words[i]};
		MqTrieEdge *edge = hash_search(walk->topic->edges, &key, HASH_FIND, NULL);

		if (edge != NULL)
			mq_walk_node(walk, edge->child, i + 1);
	}
	if (n->star >= 0)
		mq_walk_node(walk, n->star, i + 1);
}

/*
 * A "#" node reached at word from: it swallows words from..j-1 for every j.
 * What was already tried from a later word in this walk is not tried again.
 */
static void
mq_walk_hash(MqWalk *walk, int32 node, int from)
{
	MqTrieNode *n = &walk->topic->nodes[node];
	int			until = walk->nwords;
	int			j;

	if (n->memo_stamp == walk->stamp)
	{
		if (from >= n->memo_from)
			return;
		until = n->memo_from - 1;
	}
	n->memo_stamp = walk->stamp;
	n->memo_from = from;
	for (j = from; j <= until; j++)
		mq_walk_node(walk, node, j);
}

/* Read a topic and its bindings into entry; false if there is no topic. */
static bool
mq_topic_load(MqTopic *topic, Oid nspid)
{
	Datum		arg = CStringGetTextDatum(topic->name);
	MemoryContext oldcxt;
	HASHCTL		ctl;
	uint64		i;
	bool		isnull;
	char	   *last = NULL;

	if (!OidIsValid(MqBindingRelid(nspid)))
		return false;			/* a database on 0.1: no topics */
	if (load_topic_plan == NULL)
	{
		Oid			argtype = TEXTOID;
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT owner::pg_catalog.oid FROM mq.queue"
						   " WHERE queue_name OPERATOR(pg_catalog.=) $1"
						   " AND kind OPERATOR(pg_catalog.=) 'topic'",
						   1, &argtype);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		load_topic_plan = plan;

		plan = SPI_prepare("SELECT queue_name, pattern FROM mq.binding"
						   " WHERE topic_name OPERATOR(pg_catalog.=) $1"
						   " ORDER BY queue_name, pattern",
						   1, &argtype);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		load_bindings_plan = plan;
	}

	if (topic->cxt != NULL)
		MemoryContextDelete(topic->cxt);
	topic->cxt = AllocSetContextCreate(topic_cache_cxt, "mq topic", ALLOCSET_SMALL_SIZES);
	MemoryContextCopyAndSetIdentifier(topic->cxt, topic->name);

	if (MqExecuteLatest(load_topic_plan, &arg, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the catalog of queues");
	if (SPI_processed == 0)
		return false;
	topic->owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	MqLoadGrantsFor(topic->name, topic->cxt, &topic->grants, &topic->ngrants);

	if (MqExecuteLatest(load_bindings_plan, &arg, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the bindings of topic \"%s\"", topic->name);

	oldcxt = MemoryContextSwitchTo(topic->cxt);
	topic->maxnodes = 16;
	topic->nnodes = 0;
	topic->nodes = palloc(sizeof(MqTrieNode) * topic->maxnodes);
	mq_trie_new_node(topic);	/* the root */
	ctl.keysize = sizeof(MqTrieKey);
	ctl.entrysize = sizeof(MqTrieEdge);
	ctl.hash = mq_edge_hash;
	ctl.match = mq_edge_compare;
	ctl.hcxt = topic->cxt;
	topic->edges = hash_create("mq topic trie", Max(16, SPI_processed), &ctl,
							   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	topic->targets = palloc(sizeof(char *) * Max(1, SPI_processed));
	topic->ntargets = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *queue = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *pattern = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	  **words;
		int			nwords;

		/* the rows come by queue: a new name is a new target */
		if (last == NULL || strcmp(last, queue) != 0)
			topic->targets[topic->ntargets++] = last = queue;
		nwords = mq_split_words(pattern, true, &words);
		mq_trie_add(topic, words, nwords, topic->ntargets - 1);
	}
	topic->seen = palloc0(sizeof(uint64) * Max(1, topic->ntargets));
	MemoryContextSwitchTo(oldcxt);
	return true;
}

/*
 * The topic of that name, from the cache or (re)loaded; NULL if no topic
 * has that name.  Needs an MqBegin'd call.
 */
MqTopic *
MqTopicLookup(MqCall *call, const char *name)
{
	MqTopic    *topic;
	bool		found;
	uint64		generation;

	if (topic_cache == NULL)
	{
		HASHCTL		ctl;

		topic_cache_cxt = AllocSetContextCreate(TopMemoryContext, "mq topic cache",
												ALLOCSET_SMALL_SIZES);
		ctl.keysize = MQ_NAME_MAXLEN + 1;
		ctl.entrysize = sizeof(MqTopic);
		ctl.hcxt = topic_cache_cxt;
		topic_cache = hash_create("mq topics", 16, &ctl,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}

	topic = hash_search(topic_cache, name, HASH_ENTER, &found);
	if (!found)
	{
		topic->cxt = NULL;
		topic->generation = 0;
	}
	if (topic->generation == topic_generation)
		return topic;

	/* invalid until loaded; an invalidation during the load keeps it so */
	topic->generation = 0;
	generation = topic_generation;
	if (!mq_topic_load(topic, call->nspid))
	{
		if (topic->cxt != NULL)
			MemoryContextDelete(topic->cxt);
		hash_search(topic_cache, name, HASH_REMOVE, NULL);
		return NULL;
	}
	topic->generation = generation;
	return topic;
}

bool
MqTopicHasPrivilege(MqCall *call, MqTopic *topic, MqPrivilege priv)
{
	return MqHasPrivilegeOn(call, topic->owner, topic->grants, topic->ngrants, priv);
}

/*
 * A queue function was given name, which is no queue: if it is a topic,
 * raise 42501 without priv on it (worded as for a queue, so that the kind
 * is not revealed), else 42809.  Returns if it is no topic either.
 */
void
MqTopicNotQueue(MqCall *call, const char *name, MqPrivilege priv)
{
	MqTopic    *topic = MqTopicLookup(call, name);

	if (topic == NULL)
		return;
	if (!MqTopicHasPrivilege(call, topic, priv & MQ_PRIV_MASK))
		MqPrivilegeDenied((priv & MQ_STREAM_CALL) ? "stream" : "queue", name,
						  priv & MQ_PRIV_MASK);
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is a topic, not a %s", name,
					(priv & MQ_STREAM_CALL) ? "stream" : "queue"),
			 (priv & MQ_PRIV_MASK) == MQ_PRIV_SEND ?
			 errhint("Publish to a topic with mq_publish().") :
			 (priv & MQ_STREAM_CALL) ?
			 errhint("Bind a stream to the topic with mq_bind() and consume the stream.") :
			 errhint("Bind a queue to the topic with mq_bind() and use the queue.")));
}

/*
 * The topic argument of a topic function: 42704 if there is nothing of
 * that name, 42501 without priv on it, 42809 if it is a queue.
 */
static MqTopic *
mq_topic_begin(MqCall *call, const char *name, MqPrivilege priv)
{
	MqTopic    *topic = MqTopicLookup(call, name);
	MqQueue    *queue;

	if (topic != NULL)
	{
		if (!MqTopicHasPrivilege(call, topic, priv))
			MqPrivilegeDenied("topic", name, priv);
		return topic;
	}
	queue = MqLookup(call, name, true);
	if (queue == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("topic \"%s\" does not exist", name),
				 errhint("Create it with mq_create_topic().")));
	if (!MqHasPrivilege(call, queue, priv))
		MqPrivilegeDenied("topic", name, priv);
	if (queue->kind == MQ_KIND_STREAM)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a stream, not a topic", name),
				 priv == MQ_PRIV_SEND ?
				 errhint("Append to a stream with mq_append().") :
				 errhint("Streams are bound to topics, made with mq_create_topic().")));
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is a queue, not a topic", name),
			 priv == MQ_PRIV_SEND ?
			 errhint("Send to a queue with mq_send().") :
			 errhint("Bind the queue to a topic created with mq_create_topic().")));
	return NULL;				/* keep compiler quiet */
}

/* mq_drop of a topic; false if there is no topic of that name. */
bool
MqTopicDrop(MqCall *call, const char *name)
{
	MqTopic    *topic = MqTopicLookup(call, name);
	Oid			argtype = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);
	bool		dropped;

	if (topic == NULL)
		return false;
	if (!MqTopicHasPrivilege(call, topic, MQ_PRIV_MANAGE))
		MqPrivilegeDenied("topic", name, MQ_PRIV_MANAGE);
	/* the bindings to it go by the foreign key's cascade */
	if (SPI_execute_with_args("DELETE FROM mq.queue"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1"
							  " AND kind OPERATOR(pg_catalog.=) 'topic'",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from the catalog of queues");
	/* a concurrent mq_drop that committed first leaves nothing to drop */
	dropped = (SPI_processed == 1);
	if (dropped &&
		SPI_execute_with_args("DELETE FROM mq.grant"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the grants of topic \"%s\"", name);
	MqTopicsChanged(call->nspid);
	return dropped;
}

/*
 * Create a topic; false if the caller's own topic (or one it manages) of
 * that name exists, 42710 if the name is taken otherwise.
 */
Datum
mq_create_topic(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgName(fcinfo, 0, "topic");
	MqCall		call;
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		values[2];
	bool		created;

	MqBegin(&call, NULL, 0, true);
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(call.caller);
	if (SPI_execute_with_args("INSERT INTO mq.queue (queue_name, owner, kind, unlogged)"
							  " VALUES ($1, $2, 'topic', false)"
							  " ON CONFLICT (queue_name) DO NOTHING",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into the catalog of queues");
	created = (SPI_processed == 1);
	if (created)
		MqTopicsChanged(call.nspid);
	else
	{
		MqTopic    *topic = MqTopicLookup(&call, name);

		if (topic == NULL || !MqTopicHasPrivilege(&call, topic, MQ_PRIV_MANAGE))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("name \"%s\" is already taken", name),
					 errhint("Queues, streams and topics share one namespace.")));
	}
	MqEnd(&call);
	PG_RETURN_BOOL(created);
}

/*
 * The queue argument of mq_bind, a queue or a stream: 42704 if there is
 * nothing of that name, 42501 without manage on it, 42809 if it is a topic.
 */
static void
mq_target_begin(MqCall *call, const char *name)
{
	MqQueue    *queue = MqLookup(call, name, true);

	if (queue != NULL)
	{
		MqCheckPrivilege(call, queue, MQ_PRIV_MANAGE);
		return;
	}
	if (MqTopicLookup(call, name) == NULL)
		MqLookup(call, name, false);	/* raises 42704 */
	if (!MqTopicHasPrivilege(call, MqTopicLookup(call, name), MQ_PRIV_MANAGE))
		MqPrivilegeDenied("queue", name, MQ_PRIV_MANAGE);
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is a topic, not a queue or stream", name),
			 errhint("Bind a queue or a stream to a topic: mq_bind(queue, topic, pattern).")));
}

/*
 * Bind a queue or a stream to a topic with a pattern; false if that
 * binding exists.  Needs manage on the queue or stream and read on the
 * topic.
 */
Datum
mq_bind(PG_FUNCTION_ARGS)
{
	char	   *queue = MqArgQueueName(fcinfo, 0);
	char	   *topic = MqArgName(fcinfo, 1, "topic");
	char	  **words;
	MqCall		call;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	bool		created;

	mq_arg_words(fcinfo, 2, true, &words);

	MqBegin(&call, NULL, 0, true);
	mq_target_begin(&call, queue);
	mq_topic_begin(&call, topic, MQ_PRIV_READ);

	values[0] = CStringGetTextDatum(queue);
	values[1] = CStringGetTextDatum(topic);
	values[2] = PG_GETARG_DATUM(2);
	if (SPI_execute_with_args("INSERT INTO mq.binding (queue_name, topic_name, pattern)"
							  " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into the bindings");
	created = (SPI_processed == 1);
	if (created)
		MqTopicsChanged(call.nspid);
	MqEnd(&call);
	PG_RETURN_BOOL(created);
}

/*
 * Remove a binding; false if there was none.  Needs manage on the queue (or
 * stream) or on the topic.
 */
Datum
mq_unbind(PG_FUNCTION_ARGS)
{
	char	   *queue_name = MqArgQueueName(fcinfo, 0);
	char	   *topic_name = MqArgName(fcinfo, 1, "topic");
	char	  **words;
	MqCall		call;
	MqQueue    *queue;
	MqTopic    *topic;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	bool		removed;

	mq_arg_words(fcinfo, 2, true, &words);

	MqBegin(&call, NULL, 0, true);
	queue = MqLookup(&call, queue_name, true);
	if (queue == NULL && MqTopicLookup(&call, queue_name) == NULL)
		MqLookup(&call, queue_name, false); /* raises 42704 */
	topic = MqTopicLookup(&call, topic_name);
	if (topic == NULL && MqLookup(&call, topic_name, true) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("topic \"%s\" does not exist", topic_name)));

	/* manage on either side, whatever its kind; then the kinds */
	if (!(queue != NULL ? MqHasPrivilege(&call, queue, MQ_PRIV_MANAGE) :
		  MqTopicHasPrivilege(&call, MqTopicLookup(&call, queue_name), MQ_PRIV_MANAGE)) &&
		!(topic != NULL ? MqTopicHasPrivilege(&call, topic, MQ_PRIV_MANAGE) :
		  MqHasPrivilege(&call, MqLookup(&call, topic_name, false), MQ_PRIV_MANAGE)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to unbind \"%s\" from topic \"%s\"",
						queue_name, topic_name),
				 errdetail("The manage privilege on the queue or stream, or on the topic, is required.")));
	if (queue == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a topic, not a queue or stream", queue_name),
				 errhint("Unbind a queue or a stream from a topic: mq_unbind(queue, topic, pattern).")));
	if (topic == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a %s, not a topic", topic_name,
						MqLookup(&call, topic_name, false)->kind == MQ_KIND_STREAM ?
						"stream" : "queue"),
				 errhint("Unbind a queue or a stream from a topic: mq_unbind(queue, topic, pattern).")));

	values[0] = CStringGetTextDatum(queue_name);
	values[1] = CStringGetTextDatum(topic_name);
	values[2] = PG_GETARG_DATUM(2);
	if (SPI_execute_with_args("DELETE FROM mq.binding"
							  " WHERE queue_name OPERATOR(pg_catalog.=) $1"
							  " AND topic_name OPERATOR(pg_catalog.=) $2"
							  " AND pattern OPERATOR(pg_catalog.=) $3",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from the bindings");
	removed = (SPI_processed == 1);
	if (removed)
		MqTopicsChanged(call.nspid);
	MqEnd(&call);
	PG_RETURN_BOOL(removed);
}

/*
 * Publish a message to a topic: one copy into every bound queue or stream
 * with a pattern that matches the routing key, in the caller's transaction.
 * Returns the number of copies.  Needs send on the topic.
 */
Datum
mq_publish(PG_FUNCTION_ARGS)
{
	char	   *name = MqArgName(fcinfo, 0, "topic");
	MqCall		call;
	MqTopic    *topic;
	MqWalk		walk;
	Datum		values[6];
	char		nulls[6];
	int64		delay;
	int			copies = 0;
	int			i;

	walk.nwords = mq_arg_words(fcinfo, 1, false, &walk.words);
	MqArgNotNull(fcinfo, 2, "body");
	MqCheckBody(PG_GETARG_DATUM(2), "body");
	MqArgNotNull(fcinfo, 3, "delay");
	delay = MqIntervalUsecs(PG_GETARG_DATUM(3), "delay", true);
	if (!PG_ARGISNULL(4))
		MqCheckHeaders(PG_GETARG_DATUM(4));

	values[0] = TimestampTzGetDatum(MqAddUsecs(GetCurrentTimestamp(), delay));
	values[1] = PG_GETARG_DATUM(2);
	values[2] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	values[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[4] = CStringGetTextDatum(name);
	values[5] = PG_GETARG_DATUM(1);
	memset(nulls, ' ', sizeof(nulls));
	nulls[2] = PG_ARGISNULL(4) ? 'n' : ' ';

	/* route by the bindings committed before this call */
	AcceptInvalidationMessages();
	MqBegin(&call, NULL, 0, true);
	topic = mq_topic_begin(&call, name, MQ_PRIV_SEND);

	walk.topic = topic;
	walk.stamp = ++walk_stamp;
	walk.hits = palloc(sizeof(int32) * Max(1, topic->ntargets));
	walk.nhits = 0;
	mq_walk_node(&walk, 0, 0);

	/* copies go in the order of the targets' names, as do their locks */
	if (walk.nhits > 1)
	{
		int32	   *sorted = palloc0(sizeof(int32) * topic->ntargets);
		int			n = 0;

		/* targets are numbered by name: a counting pass sorts the hits */
		for (i = 0; i < walk.nhits; i++)
			sorted[walk.hits[i]] = 1;
		for (i = 0; i < topic->ntargets; i++)
			if (sorted[i])
				walk.hits[n++] = i;
	}

	for (i = 0; i < walk.nhits; i++)
	{
		const char *target = topic->targets[walk.hits[i]];
		MqQueue    *queue = MqLookup(&call, target, true);
		Oid			relid;

		if (queue == NULL)
			continue;
		/*
		 * Lock as the insert would (a queue's live table, a stream's table
		 * of records), then see whether a drop came first.
		 */
		relid = queue->relid;
		LockRelationOid(relid, RowExclusiveLock);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		{
			UnlockRelationOid(relid, RowExclusiveLock);
			continue;
		}
		if (queue->kind == MQ_KIND_STREAM)
		{
			/*
			 * Through mq_append's own path (ordering marks, wake-ups), at
			 * once (a delay is for queue copies), with a NULL key: the copy
			 * goes to a partition as an append without a key does.
			 */
			(void) MqStreamAppend(queue, call.nspid, NULL, values[1], values[2],
								  values[4], values[5]);
			copies++;
			continue;
		}
		if (!queue->has_topic)
			elog(ERROR, "queue \"%s\" has no column for topics", target);
		MqExecute(queue, MQ_STMT_PUBLISH, values, nulls, 0);
		MqWakeupRegister(queue, MQ_WAKE_ON_COMMIT |
						 (queue->notify ? MQ_NOTIFY_ON_COMMIT : 0));
		/* mq_stats: a copy published into the queue counts as sent */
		MqStatsSent(queue, 1);
		copies++;
	}
	MqStatsPublished(name);
	MqEnd(&call);
	PG_RETURN_INT32(copies);
}
