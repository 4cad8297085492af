'use strict'
// send's group, priority and dedup options, publish through a topic, and
// streams: append, consume (the caller commits), seek.
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const pg = require('pg')
const mq = require('..')
const h = require('./helpers')

const DB = 'mq_node_routing'
let direct
let bouncer
let admin

before(async () => {
  direct = await h.createDatabase(DB)
  bouncer = await h.startPgBouncer(DB)
  admin = new pg.Client(direct)
  await admin.connect()
})

after(async () => {
  await admin.end()
  await bouncer.stop()
  await h.dropDatabase(DB)
})

const ids = (records) => records.map((r) => r.msgId).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

for (const mode of ['direct', 'pgbouncer']) {
  const config = () => (mode === 'direct' ? direct : bouncer.config)

  describe(`through ${mode}`, () => {
    it('sends with a group, a priority and a dedup key', async () => {
      const q = h.queueName()
      await admin.query('SELECT mq_create($1)', [q])
      let low, high, g1, g2, once
      await h.withClient(config(), async (c) => {
        low = await mq.send(c, q, 'low')
        high = await mq.send(c, q, 'high', { priority: 5 })
        g1 = await mq.send(c, q, 'g1', { groupId: 'g', priority: 9 })
        g2 = await mq.send(c, q, 'g2', { groupId: 'g', priority: 9 })
        once = await mq.send(c, q, 'once', { dedupKey: 'k1', priority: -1 })
        assert.equal(await mq.send(c, q, 'twice', { dedupKey: 'k1' }), once)
      })
      const r = await admin.query('SELECT msg_id::text, body FROM mq_read($1, qty => 10)', [q])
      // priority order; the group's second message waits for its first
      assert.deepEqual(r.rows.map((x) => [BigInt(x.msg_id), x.body]),
        [[g1, 'g1'], [high, 'high'], [low, 'low'], [once, 'once']])
      await admin.query('SELECT mq_ack($1, $2::bigint)', [q, g1.toString()])
      const r2 = await admin.query('SELECT msg_id::text FROM mq_read($1, qty => 10)', [q])
      assert.deepEqual(r2.rows.map((x) => BigInt(x.msg_id)), [g2])
      await admin.query('SELECT mq_drop($1)', [q])
    })

    it('sends a batch with groups, a priority and dedup keys', async () => {
      const q = h.queueName()
      await admin.query('SELECT mq_create($1)', [q])
      let low, ids
      await h.withClient(config(), async (c) => {
        low = await mq.sendBatch(c, q, ['low'])
        ids = await mq.sendBatch(c, q, ['a1', 'b1', 'a2', 'k', 'k again'], {
          groupIds: ['a', 'b', 'a', null, null],
          priority: 3,
          dedupKeys: [null, null, null, 'k1', 'k1']
        })
        assert.equal(ids[3], ids[4])
        assert.equal(new Set(ids).size, 4)
        assert.deepEqual(await mq.sendBatch(c, q, ['k later'], { dedupKeys: ['k1'] }), [ids[3]])
        await assert.rejects(mq.sendBatch(c, q, ['x', 'y'], { groupIds: ['a'] }), { code: '22023' })
      })
      const r = await admin.query(
        'SELECT msg_id::text, group_id, priority FROM mq_read($1, qty => 10)', [q])
      // priority first; a2 waits behind a1 in its group
      assert.deepEqual(r.rows.map((x) => [BigInt(x.msg_id), x.group_id, x.priority]),
        [[ids[0], 'a', 3], [ids[1], 'b', 3], [ids[3], null, 3], [low[0], null, 0]])
      await admin.query('SELECT mq_ack($1, $2::bigint)', [q, ids[0].toString()])
      const r2 = await admin.query('SELECT msg_id::text FROM mq_read($1, qty => 10)', [q])
      assert.deepEqual(r2.rows.map((x) => BigInt(x.msg_id)), [ids[2]])
      await admin.query('SELECT mq_drop($1)', [q])
    })

    it('publishes to the queues whose patterns match', async () => {
      const t = h.queueName()
      const [eu, created, us] = [h.queueName(), h.queueName(), h.queueName()]
      await admin.query('SELECT mq_create_topic($1)', [t])
      for (const [q, p] of [[eu, 'eu.#'], [created, '*.order.created'], [us, 'us.order.*']]) {
        await admin.query('SELECT mq_create($1)', [q])
        await admin.query('SELECT mq_bind($1, $2, $3)', [q, t, p])
      }
      await h.withClient(config(), async (c) => {
        await c.query('BEGIN')
        assert.equal(await mq.publish(c, t, 'eu.order.created', { n: 1 }), 2)
        await c.query('ROLLBACK')
        assert.equal(await mq.publish(c, t, 'eu.order.created', { n: 2 }, { headers: { h: 1 } }), 2)
        assert.equal(await mq.publish(c, t, 'us.order.paid', [3]), 1)
        assert.equal(await mq.publish(c, t, 'asia.invoice', 4), 0)
        assert.equal(await mq.publish(c, t, 'eu.later', 5, { delay: 3600 }), 1)
        await assert.rejects(mq.publish(c, t, 'bad..key', 6), { code: '22023' })
      })
      const read = async (q) => (await admin.query(
        'SELECT body, headers, topic, routing_key FROM mq_read($1, qty => 10)', [q])).rows
      assert.deepEqual(await read(eu), [{ body: { n: 2 }, headers: { h: 1 }, topic: t, routing_key: 'eu.order.created' }])
      assert.deepEqual(await read(created), [{ body: { n: 2 }, headers: { h: 1 }, topic: t, routing_key: 'eu.order.created' }])
      assert.deepEqual(await read(us), [{ body: [3], headers: null, topic: t, routing_key: 'us.order.paid' }])
      for (const q of [eu, created, us, t]) await admin.query('SELECT mq_drop($1)', [q])
    })

    it('appends and consumes; rollback hands the records back', async () => {
      const s = h.queueName()
      await admin.query('SELECT mq_create_stream($1, partitions => 2)', [s])
      await h.withClient(config(), async (c) => {
        const a = await mq.append(c, s, { n: 1 }, { key: 'user-1', headers: { h: 1 } })
        const b = await mq.append(c, s, { n: 2 }, { key: 'user-1' })
        const more = await mq.appendBatch(c, s, [{ n: 3 }, { big: 12345678901234567890n }],
          { keys: ['user-2', null], headers: { h: 2 } })
        assert.deepEqual(await mq.appendBatch(c, s, []), [])
        await assert.rejects(mq.appendBatch(c, s, [1, 2], { keys: ['x'] }), RangeError)
        assert.equal(typeof a, 'bigint')
        assert.ok(b > a && more[0] > b && more[1] > more[0])

        await c.query('BEGIN')
        const first = await mq.consume(c, s, 'g')
        assert.ok(first.length > 0)
        await c.query('ROLLBACK')
        await c.query('BEGIN')
        const again = await mq.consume(c, s, 'g')
        assert.deepEqual(again.map((r) => r.msgId), first.map((r) => r.msgId))
        await c.query('COMMIT')
        const got = [...again]
        for (;;) {
          await c.query('BEGIN')
          const recs = await mq.consume(c, s, 'g', { qty: 10 })
          await c.query('COMMIT')
          if (recs.length === 0) break
          got.push(...recs)
        }
        assert.deepEqual(ids(got), [a, b, ...more])
        const byId = new Map(got.map((r) => [r.msgId, r]))
        const r = byId.get(a)
        assert.deepEqual([r.key, r.body, r.headers, r.topic, r.routingKey], ['user-1', { n: 1 }, { h: 1 }, null, null])
        assert.ok(r.appendedAt instanceof Date)
        assert.equal(byId.get(b).partition, r.partition) // same key, same partition
        assert.equal(byId.get(more[1]).key, null)
        assert.deepEqual(byId.get(more[1]).body, { big: '12345678901234567890' })
        for (const p of new Set(got.map((x) => x.partition))) {
          const inP = got.filter((x) => x.partition === p).map((x) => x.msgId)
          assert.deepEqual(inP, [...inP].sort((x, y) => (x < y ? -1 : 1)))
        }
      })
      await admin.query('SELECT mq_drop($1)', [s])
    })

    it('gives every group everything, and seek replays', async () => {
      const s = h.queueName()
      await admin.query('SELECT mq_create_stream($1, partitions => 2)', [s])
      await h.withClient(config(), async (c) => {
        const all = await mq.appendBatch(c, s, [0, 1, 2, 3, 4, 5], { keys: ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'] })
        const drain = async (group) => {
          const out = []
          for (;;) {
            const recs = await mq.consume(c, s, group) // each statement commits
            if (recs.length === 0) return ids(out)
            out.push(...recs)
          }
        }
        assert.deepEqual(await drain('one'), all)
        assert.deepEqual(await drain('two'), all)
        assert.deepEqual(await drain('one'), [])
        await mq.seek(c, s, 'one', { msgId: all[3] })
        assert.deepEqual(await drain('one'), all.slice(3))
        await mq.seek(c, s, 'one', { msgId: 0 })
        assert.deepEqual(await drain('one'), all)
        await mq.seek(c, s, 'one', { at: new Date(Date.now() + 3600e3) })
        assert.deepEqual(await drain('one'), [])
        await assert.rejects(mq.seek(c, s, 'one'), TypeError)
        assert.deepEqual(await mq.consume(c, s, 'two', { wait: 0.2 }), [])
      })
      const g = await admin.query('SELECT DISTINCT group_name FROM mq_groups($1) ORDER BY 1', [s])
      assert.deepEqual(g.rows.map((x) => x.group_name), ['one', 'two'])
      await admin.query('SELECT mq_drop($1)', [s])
    })
  })
}
