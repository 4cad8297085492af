'use strict'
// mq-client: Node client of the mq PostgreSQL extension, on node-postgres.
//
// Producer calls (send, sendBatch, publish, status, waitResult, request) and
// stream calls (append, appendBatch, consume, seek) take the caller's pg
// Client, PoolClient or Pool and run in its transaction.  The
// Worker runs a handler on the messages of a queue, `concurrency` at a time,
// each slot with one connection of its own: waiting reads, lease extension
// while the handler runs, ack with its result, nack with its error, and a
// graceful stop that cancels waiting reads on the server.
//
// Message ids are BigInt everywhere (returned and in jobs); the calls accept
// a BigInt, a number or a decimal string.  Bodies, headers and results are
// JSON values; a BigInt inside one is written as a decimal string.

const net = require('net')
const { EventEmitter } = require('events')
const pg = require('pg')

function toJson (value) {
  if (value === undefined) throw new TypeError('a message body or result must not be undefined')
  return JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? v.toString() : v))
}

function idParam (id) {
  if (typeof id === 'bigint') return id.toString()
  if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id)
  if (typeof id === 'string' && /^-?\d+$/.test(id)) return id
  throw new TypeError(`invalid message id: ${id}`)
}

// seconds (a number) as an interval parameter; null/undefined stays NULL
function secs (s) {
  return s === null || s === undefined ? null : Number(s)
}
const INTERVAL = (n) => `($${n}::float8 * interval '1 second')`

// groupId: the message's group (its messages are leased one at a time, in
// order); priority: higher is read first; dedupKey: a send whose key an
// earlier message holds enqueues nothing and returns that message's id.
async function send (db, queue, body, { delay = 0, headers = null, groupId = null, priority = 0, dedupKey = null } = {}) {
  const r = await db.query(
    `SELECT mq_send($1, $2::jsonb, delay => coalesce(${INTERVAL(3)}, '0'), headers => $4::jsonb,
                    group_id => $5, priority => coalesce($6::int, 0), dedup_key => $7)::text AS id`,
    [queue, toJson(body), secs(delay), headers === null ? null : toJson(headers),
      groupId, priority, dedupKey])
  return BigInt(r.rows[0].id)
}

// mq_publish: a copy into every queue or stream bound to the topic with a pattern
// matching routingKey; returns how many copies were made (a number).
async function publish (db, topic, routingKey, body, { delay = 0, headers = null } = {}) {
  const r = await db.query(
    `SELECT mq_publish($1, $2, $3::jsonb, delay => coalesce(${INTERVAL(4)}, '0'), headers => $5::jsonb) AS n`,
    [topic, routingKey, toJson(body), secs(delay), headers === null ? null : toJson(headers)])
  return r.rows[0].n
}

// mq_append: one record, to the partition of its key; returns its id.
async function append (db, stream, body, { key = null, headers = null } = {}) {
  const r = await db.query(
    'SELECT mq_append($1, $2::jsonb, key => $3, headers => $4::jsonb)::text AS id',
    [stream, toJson(body), key, headers === null ? null : toJson(headers)])
  return BigInt(r.rows[0].id)
}

// mq_append_batch: one record per body, with the key of the same position
// in keys (as many as bodies; null: no key); returns the ids in order.
async function appendBatch (db, stream, bodies, { keys = null, headers = null } = {}) {
  const list = Array.from(bodies, toJson)
  const ks = keys === null ? null : Array.from(keys)
  if (ks !== null && ks.length !== list.length) {
    throw new RangeError(`${list.length} bodies but ${ks.length} keys`)
  }
  if (list.length === 0) return []
  const r = await db.query(
    `SELECT id::text FROM mq_append_batch($1, $2::jsonb[], keys => $3::text[],
                                          headers => $4::jsonb) AS id`,
    [stream, list, ks, headers === null ? null : toJson(headers)])
  return r.rows.map((row) => BigInt(row.id))
}

// mq_consume: up to qty records of one partition after the group's position
// there, in msgId order.  The position moves in the caller's transaction:
// commit once the records are processed (rollback: the group gets them
// again).  Outside a transaction it commits at once (at most once).
async function consume (db, stream, group, { qty = 100, wait = 0 } = {}) {
  const r = await db.query(
    `SELECT msg_id::text, partition, key, appended_at, body::text, headers::text, topic, routing_key
       FROM mq_consume($1, $2, qty => $3, wait => coalesce(${INTERVAL(4)}, '0'))`,
    [stream, group, qty, secs(wait)])
  return r.rows.map((x) => ({
    msgId: BigInt(x.msg_id),
    partition: x.partition,
    key: x.key,
    appendedAt: x.appended_at,
    body: JSON.parse(x.body),
    headers: x.headers === null ? null : JSON.parse(x.headers),
    topic: x.topic,
    routingKey: x.routing_key
  }))
}

// mq_seek: move the group (created if need be) on every partition to the
// records with msgId >= msgId, or to those appended at or after `at` (a
// Date).  Exactly one of the two; { msgId: 0 } replays from the start.
async function seek (db, stream, group, { msgId = null, at = null } = {}) {
  if ((msgId === null) === (at === null)) throw new TypeError('seek needs exactly one of msgId and at')
  await db.query('SELECT mq_seek($1, $2, msg_id => $3::bigint, at => $4::timestamptz)',
    [stream, group, msgId === null ? null : idParam(msgId), at])
}

// groupIds and dedupKeys, when given, have one element per body (null: no
// group, no key; a key repeated in the batch enqueues once and resolves to
// the same id for each); priority applies to every message of the batch.
async function sendBatch (db, queue, bodies, { delay = 0, headers = null, groupIds = null, priority = 0, dedupKeys = null } = {}) {
  const list = Array.from(bodies, toJson)
  if (list.length === 0) return []
  const r = await db.query(
    `SELECT id::text FROM mq_send_batch($1, $2::jsonb[], delay => coalesce(${INTERVAL(3)}, '0'),
                                        headers => $4::jsonb, group_ids => $5::text[],
                                        priority => coalesce($6::int, 0), dedup_keys => $7::text[]) AS id`,
    [queue, list, secs(delay), headers === null ? null : toJson(headers),
      groupIds === null ? null : Array.from(groupIds), priority,
      dedupKeys === null ? null : Array.from(dedupKeys)])
  return r.rows.map((row) => BigInt(row.id))
}

async function status (db, queue, msgId, { wait = 0 } = {}) {
  const r = await db.query(
    `SELECT state, attempt, enqueued_at, acked_at, result::text AS result, last_error
       FROM mq_status($1, $2::bigint, wait => coalesce(${INTERVAL(3)}, '0'))`,
    [queue, idParam(msgId), secs(wait)])
  if (r.rows.length === 0) return null
  const s = r.rows[0]
  return {
    state: s.state,
    attempt: s.attempt,
    enqueuedAt: s.enqueued_at,
    ackedAt: s.acked_at,
    result: s.result === null ? null : JSON.parse(s.result),
    lastError: s.last_error
  }
}

class RequestFailed extends Error {
  constructor (st) {
    super(`request failed after ${st.attempt} attempt(s): ${st.lastError}`)
    this.name = 'RequestFailed'
    this.status = st
  }
}

// Wait until the message is done and return its ack's result; RequestFailed
// if it is dead, an Error with code 'ETIMEDOUT' after `timeout` seconds.
async function waitResult (db, queue, msgId, { timeout = 30, poll = 20 } = {}) {
  const deadline = Date.now() + timeout * 1000
  for (;;) {
    const left = Math.max(0, (deadline - Date.now()) / 1000)
    const st = await status(db, queue, msgId, { wait: Math.min(left, poll) })
    if (st === null) {
      throw new Error(`message ${msgId} of queue "${queue}" is unknown (is the queue's retention set?)`)
    }
    if (st.state === 'done') return st.result
    if (st.state === 'dead') throw new RequestFailed(st)
    if (Date.now() >= deadline) {
      const e = new Error(`message ${msgId} of queue "${queue}" is still ${st.state} after ${timeout} s`)
      e.code = 'ETIMEDOUT'
      throw e
    }
  }
}

// Send a request and wait for its result.  The send must commit before the
// wait: call it outside a transaction (each statement then commits alone).
// With a Pool, both run on one connection taken from it.
async function request (db, queue, body, { timeout = 30, headers = null } = {}) {
  if (db instanceof pg.Pool) {
    const c = await db.connect()
    try {
      return await request(c, queue, body, { timeout, headers })
    } finally {
      c.release()
    }
  }
  const msgId = await send(db, queue, body, { headers })
  return waitResult(db, queue, msgId, { timeout })
}

// A cancel request (as psql's Ctrl-C) for what the client runs now: sent on
// a connection of its own, to the host the client is connected to.
function cancelQuery (client) {
  return new Promise((resolve) => {
    const p = client.connectionParameters
    if (!client.processID) return resolve(false)
    const sock = p.host && p.host.startsWith('/')
      ? net.connect(`${p.host}/.s.PGSQL.${p.port}`)
      : net.connect(p.port, p.host)
    const done = (ok) => { sock.destroy(); resolve(ok) }
    sock.setTimeout(5000, () => done(false))
    sock.on('error', () => done(false))
    sock.on('connect', () => {
      const b = Buffer.alloc(16)
      b.writeInt32BE(16, 0)
      b.writeInt32BE(80877102, 4)
      b.writeInt32BE(client.processID, 8)
      b.writeInt32BE(client.secretKey, 12)
      // Send, then wait for the other side to close, as libpq does: closing
      // first can make PgBouncer (1.18) drop the request, or even exit.
      sock.write(b)
    })
    sock.on('data', () => {})
    sock.on('end', () => done(true))
    sock.on('close', () => resolve(true))
  })
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

class Slot {
  constructor (worker, index) {
    this.worker = worker
    this.index = index
    this.client = null
    this.reading = false
    this.done = null
  }

  async connect () {
    const w = this.worker
    const c = new pg.Client(w.config)
    c.on('error', (e) => w.emit('error', e)) // a broken connection: the next query fails
    await c.connect()
    this.client = c
  }

  async close () {
    const c = this.client
    this.client = null
    if (c) await c.end().catch(() => {})
  }

  async loop () {
    const w = this.worker
    let failures = 0
    while (!w.stopping) {
      let jobs
      try {
        if (!this.client) await this.connect()
        jobs = await this.read()
        failures = 0
      } catch (e) {
        if (w.stopping) break
        if (e.code === '57014') continue // canceled or statement_timeout: read again
        failures++
        w.emit('error', e)
        await this.close()
        await Promise.race([sleep(Math.min(5000, 100 * 2 ** failures)), w.stopped])
        continue
      }
      for (const job of jobs) await this.handle(job)
    }
    await this.close()
  }

  async read () {
    const w = this.worker
    if (w.stopping) return []
    this.reading = true
    let r
    try {
      r = await this.client.query(
        `SELECT msg_id::text, attempt, enqueued_at, lease_expires_at, body::text, headers
           FROM mq_read($1, qty => $2, visibility_timeout => ${INTERVAL(3)}, wait => ${INTERVAL(4)})`,
        [w.queue, w.batchSize, w.visibilityTimeout, w.wait])
    } finally {
      this.reading = false
    }
    return r.rows.map((row) => {
      const ac = new AbortController()
      return {
        queue: w.queue,
        msgId: BigInt(row.msg_id),
        attempt: row.attempt,
        enqueuedAt: row.enqueued_at,
        leaseExpiresAt: row.lease_expires_at,
        body: JSON.parse(row.body),
        headers: row.headers,
        // aborted when the lease is lost (the ack of this attempt would be refused)
        signal: ac.signal,
        _abort: ac,
        get leaseLost () { return ac.signal.aborted },
        get stopping () { return w.stopping }
      }
    })
  }

  async extend (job) {
    const w = this.worker
    try {
      const r = await this.client.query(
        `SELECT mq_extend($1, $2::bigint, visibility_timeout => ${INTERVAL(3)}, attempt => $4) AS until`,
        [job.queue, idParam(job.msgId), w.visibilityTimeout, job.attempt])
      if (r.rows[0].until === null) {
        job._abort.abort(new Error(`lease of message ${job.msgId} (attempt ${job.attempt}) lost`))
        return false
      }
      job.leaseExpiresAt = r.rows[0].until
      w.counts.extended++
    } catch (e) {
      w.emit('error', e)
    }
    return true
  }

  async handle (job) {
    const w = this.worker
    let extending = Promise.resolve(true)
    const timer = setInterval(() => {
      extending = extending.then((held) => (held && !job.leaseLost ? this.extend(job) : false))
    }, w.extendEvery * 1000)
    let result = null
    let error = null
    try {
      result = await w.handler(job)
      if (result === undefined) result = null
    } catch (e) {
      error = e instanceof Error ? `${e.name}: ${e.message}` : String(e)
    } finally {
      clearInterval(timer)
    }
    await extending
    try {
      let ok
      if (error === null) {
        let res
        try {
          res = result === null ? null : toJson(result)
        } catch (e) {
          error = `result not stored: ${e.name}: ${e.message}`
        }
        if (error === null) {
          const r = await this.client.query(
            'SELECT mq_ack($1, $2::bigint, attempt => $3, result => $4::jsonb) AS ok',
            [job.queue, idParam(job.msgId), job.attempt, res])
          ok = r.rows[0].ok
          w.counts[ok ? 'acked' : 'lost']++
        }
      }
      if (error !== null) {
        const r = await this.client.query(
          `SELECT mq_nack($1, $2::bigint, delay => ${INTERVAL(3)}, error => $4, attempt => $5) AS ok`,
          [job.queue, idParam(job.msgId), w.retryDelay, error, job.attempt])
        ok = r.rows[0].ok
        w.counts[ok ? 'nacked' : 'lost']++
      }
      if (!ok && !job.leaseLost) job._abort.abort(new Error(`lease of message ${job.msgId} lost`))
    } catch (e) {
      // the connection broke: the lease ends by itself and the message comes back
      w.counts.lost++
      w.emit('error', e)
      await this.close()
    }
  }
}

// Options: concurrency (slots, one connection each), batchSize (messages
// per read, handled one after the other), wait (seconds one read waits),
// visibilityTimeout (seconds of each lease and extension; extended every
// third of it while the handler runs), retryDelay (seconds before a failed
// message is retried; null: the queue's backoff).
class Worker extends EventEmitter {
  constructor (config, queue, handler, {
    concurrency = 1, batchSize = 1, wait = 20, visibilityTimeout = 30, retryDelay = null
  } = {}) {
    super()
    if (!(concurrency >= 1)) throw new RangeError('concurrency must be at least 1')
    this.config = typeof config === 'string' ? { connectionString: config } : { ...(config || {}) }
    if (!this.config.application_name) this.config.application_name = `mq worker ${queue}`
    this.queue = queue
    this.handler = handler
    this.concurrency = concurrency
    this.batchSize = batchSize
    this.wait = wait
    this.visibilityTimeout = visibilityTimeout
    this.extendEvery = visibilityTimeout / 3
    this.retryDelay = retryDelay
    this.stopping = false
    this.counts = { acked: 0, nacked: 0, lost: 0, extended: 0 }
    this.slots = []
    let stop
    this.stopped = new Promise((resolve) => { stop = resolve })
    this._resolveStopped = stop
    this.finished = null
  }

  start () {
    if (this.finished) throw new Error('worker already started')
    // without a listener, an 'error' event would throw
    if (this.listenerCount('error') === 0) this.on('error', () => {})
    this.slots = Array.from({ length: this.concurrency }, (_, i) => new Slot(this, i))
    this.finished = Promise.all(this.slots.map((s) => s.loop()))
    return this
  }

  // Stop gracefully: no new reads, handlers finish and are acked or nacked,
  // and waiting reads are cancelled on the server.  Resolves when all is over.
  async stop () {
    if (!this.finished) return
    this.stopping = true
    this._resolveStopped()
    let over = false
    const finished = this.finished.then(() => { over = true })
    // a cancel that arrives before the read starts is lost: repeat until done
    while (!over) {
      await Promise.all(this.slots.filter((s) => s.reading && s.client).map((s) => cancelQuery(s.client)))
      await Promise.race([finished, sleep(100)])
    }
  }

  // Start, and stop at SIGINT or SIGTERM; resolves when stopped.
  async run () {
    const onSignal = (sig) => {
      this.emit('signal', sig)
      this.stop()
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      this.start()
      await this.finished
      await this.stop()
    } finally {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
    }
  }
}

module.exports = {
  send,
  sendBatch,
  publish,
  status,
  waitResult,
  request,
  RequestFailed,
  append,
  appendBatch,
  consume,
  seek,
  Worker,
  cancelQuery
}
