'use strict'
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('child_process')
const path = require('path')
const pg = require('pg')
const mq = require('..')
const h = require('./helpers')

const DB = 'mq_node_client'
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
  await h.dropDatabase(DB) // each database with mq has a background worker
})

// backends of the test database running a read (the tests run one at a time)
async function waitingReads () {
  const r = await admin.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE state = 'active' AND query LIKE '%FROM mq_read(%'
        AND pid <> pg_backend_pid() AND datname = current_database()`)
  return r.rows[0].n
}

for (const mode of ['direct', 'pgbouncer']) {
  const config = () => (mode === 'direct' ? direct : bouncer.config)

  describe(`through ${mode}`, () => {
    it('sends JSON bodies and returns ids as BigInt', async () => {
      const q = h.queueName()
      await admin.query('SELECT mq_create($1)', [q])
      await h.withClient(config(), async (c) => {
        const one = await mq.send(c, q, { order: 1, items: ['a'] }, { headers: { source: 'test' } })
        assert.equal(typeof one, 'bigint')
        const more = await mq.sendBatch(c, q, [{ n: 1 }, [1, 2], 'text', 3, null, { big: 12345678901234567890n }])
        assert.deepEqual(more, [1n, 2n, 3n, 4n, 5n, 6n].map((i) => one + i))
        assert.deepEqual(await mq.sendBatch(c, q, []), [])
        // the caller's transaction
        await c.query('BEGIN')
        await mq.send(c, q, { rolled: 'back' })
        await c.query('ROLLBACK')
      })
      const r = await admin.query('SELECT msg_id::text, body, headers FROM mq_read($1, qty => 10)', [q])
      assert.deepEqual(r.rows.map((x) => x.body),
        [{ order: 1, items: ['a'] }, { n: 1 }, [1, 2], 'text', 3, null, { big: '12345678901234567890' }])
      assert.deepEqual(r.rows[0].headers, { source: 'test' })
    })

    it('request/reply returns the result, or the error of a dead request', async () => {
      const q = h.queueName()
      await admin.query("SELECT mq_create($1, retention => '1 hour', max_attempts => 1)", [q])
      const w = new mq.Worker(config(), q, async (job) => {
        if (job.body.fail) throw new RangeError(`cannot add ${job.body.a}`)
        return { sum: job.body.a + job.body.b }
      }, { concurrency: 2, wait: 5 }).start()
      try {
        await h.withClient(config(), async (c) => {
          assert.deepEqual(await mq.request(c, q, { a: 2, b: 3 }), { sum: 5 })
          await assert.rejects(mq.request(c, q, { a: 1, fail: true }), (e) => {
            assert.equal(e.name, 'RequestFailed')
            assert.equal(e.status.state, 'dead')
            assert.equal(e.status.lastError, 'RangeError: cannot add 1')
            return true
          })
        })
        const pool = new pg.Pool(config())
        assert.deepEqual(await mq.request(pool, q, { a: 20, b: 22 }), { sum: 42 })
        await pool.end()
      } finally {
        await w.stop()
      }
    })

    it('a request nobody answers times out', async () => {
      const q = h.queueName()
      await admin.query("SELECT mq_create($1, retention => '1 hour')", [q])
      await h.withClient(config(), async (c) => {
        await assert.rejects(mq.request(c, q, { nobody: 'listens' }, { timeout: 0.5 }), { code: 'ETIMEDOUT' })
        const id = await mq.send(c, q, { n: 1 })
        assert.equal((await mq.status(c, q, id)).state, 'ready')
        assert.equal(await mq.status(c, q, id + 1000n), null)
      })
    })

    it('acks with the handler result, and nacks with the error text', async () => {
      const q = h.queueName()
      await admin.query("SELECT mq_create($1, retention => '1 hour', max_attempts => 2)", [q])
      const ok = await mq.send(admin, q, { n: 21 })
      const bad = await mq.send(admin, q, { n: -1 })
      const attempts = []
      const w = new mq.Worker(config(), q, async (job) => {
        if (job.body.n < 0) {
          attempts.push(job.attempt)
          throw new Error(`negative ${job.body.n}`)
        }
        return { double: job.body.n * 2, id: job.msgId }
      }, { wait: 1, retryDelay: 0 }).start()
      try {
        await h.waitUntil(() => w.counts.acked === 1 && w.counts.nacked === 2, { what: 'ack and nacks' })
      } finally {
        await w.stop()
      }
      assert.deepEqual(attempts, [1, 2])
      const st = await mq.status(admin, q, ok)
      assert.deepEqual([st.state, st.attempt, st.result], ['done', 1, { double: 42, id: ok.toString() }])
      const dead = await admin.query('SELECT msg_id::text, attempt, reason, last_error FROM mq_dead($1)', [q])
      assert.deepEqual(dead.rows, [{ msg_id: bad.toString(), attempt: 2, reason: 'nack', last_error: 'Error: negative -1' }])
    })

    it('a handler slower than the lease keeps its lease', async () => {
      const q = h.queueName()
      await admin.query("SELECT mq_create($1, retention => '1 hour')", [q])
      const id = await mq.send(admin, q, { slow: true })
      let started = false
      let lost = null
      const w = new mq.Worker(config(), q, async (job) => {
        started = true
        await h.sleep(4000) // four leases of 1 s
        lost = job.leaseLost
        return 'finished'
      }, { visibilityTimeout: 1, wait: 1 }).start()
      await h.waitUntil(() => started, { what: 'the handler' })
      for (let i = 0; i < 6; i++) {
        const r = await admin.query('SELECT count(*)::int AS n FROM mq_read($1)', [q])
        assert.equal(r.rows[0].n, 0)
        await h.sleep(500)
      }
      await h.waitUntil(() => w.counts.acked === 1, { what: 'the ack' })
      await w.stop()
      assert.equal(lost, false)
      assert.ok(w.counts.extended >= 2)
      const st = await mq.status(admin, q, id)
      assert.deepEqual([st.state, st.attempt, st.result], ['done', 1, 'finished'])
    })

    it('tells the handler when its lease is lost', async () => {
      const q = h.queueName()
      await admin.query('SELECT mq_create($1)', [q])
      const id = await mq.send(admin, q, { n: 1 })
      let started = false
      let told = false
      const w = new mq.Worker(config(), q, async (job) => {
        started = true
        await new Promise((resolve) => {
          const t = setTimeout(resolve, 30000)
          job.signal.addEventListener('abort', () => { clearTimeout(t); resolve() })
        })
        told = job.leaseLost
      }, { visibilityTimeout: 0.6, wait: 1 }).start()
      try {
        await h.waitUntil(() => started, { what: 'the handler' })
        await admin.query('SELECT mq_ack($1, $2::bigint)', [q, id.toString()])
        await h.waitUntil(() => told && w.counts.lost === 1, { what: 'the lost lease' })
      } finally {
        await w.stop()
      }
    })

    it('stop cancels waiting reads on the server', async () => {
      const q = h.queueName()
      await admin.query('SELECT mq_create($1)', [q])
      const w = new mq.Worker(config(), q, async () => null, { concurrency: 3, wait: 120 }).start()
      await h.waitUntil(async () => (await waitingReads()) >= 3, { what: 'three waiting reads' })
      const t0 = Date.now()
      await w.stop()
      assert.ok(Date.now() - t0 < 60000)
      await h.waitUntil(async () => (await waitingReads()) === 0, { what: 'no waiting read' })
      const id = await mq.send(admin, q, { after: 'stop' })
      await h.sleep(500)
      const st = await mq.status(admin, q, id)
      assert.deepEqual([st.state, st.attempt], ['ready', 0])
    })

    it('SIGTERM during a waiting read leaves the next message ready at attempt 0', async () => {
      const q = h.queueName()
      await admin.query('SELECT mq_create($1)', [q])
      const script = `
        const mq = require(${JSON.stringify(path.join(__dirname, '..'))})
        const w = new mq.Worker(${JSON.stringify(config())}, ${JSON.stringify(q)},
          async (job) => null, { concurrency: 2, wait: 120 })
        w.run().then(() => console.log('stopped'))`
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (d) => { out += d })
      const exited = new Promise((resolve) => child.on('exit', resolve))
      try {
        await h.waitUntil(async () => (await waitingReads()) >= 2, { what: 'two waiting reads' })
        const t0 = Date.now()
        child.kill('SIGTERM')
        assert.equal(await exited, 0)
        assert.ok(Date.now() - t0 < 60000)
        assert.match(out, /stopped/)
      } finally {
        child.kill('SIGKILL')
      }
      await h.waitUntil(async () => (await waitingReads()) === 0, { what: 'no waiting read' })
      const id = await mq.send(admin, q, { next: true })
      await h.sleep(1000)
      const st = await mq.status(admin, q, id)
      assert.deepEqual([st.state, st.attempt], ['ready', 0])
    })

    it('4 workers process each of 5000 messages exactly once', async () => {
      const q = h.queueName()
      const n = 5000
      await admin.query('SELECT mq_create($1)', [q])
      let ids = []
      for (let i = 0; i < n; i += 1000) {
        ids = ids.concat(await mq.sendBatch(admin, q, Array.from({ length: 1000 }, (_, j) => ({ n: i + j }))))
      }
      const seen = []
      const w = new mq.Worker(config(), q, async (job) => {
        seen.push([job.msgId, job.body.n, job.attempt])
      }, { concurrency: 4, batchSize: 10, wait: 1 }).start()
      await h.waitUntil(() => w.counts.acked >= n, { timeout: 300000, step: 200, what: '5000 acks' })
      await w.stop()
      assert.equal(seen.length, n)
      assert.deepEqual(seen.map((s) => s[0]).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), ids)
      assert.deepEqual(seen.map((s) => s[1]).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i))
      assert.ok(seen.every((s) => s[2] === 1))
      assert.deepEqual([w.counts.acked, w.counts.nacked, w.counts.lost], [n, 0, 0])
      const m = await admin.query('SELECT ready::int, delayed::int, in_flight::int, dead::int FROM mq_metrics($1)', [q])
      assert.deepEqual(m.rows[0], { ready: 0, delayed: 0, in_flight: 0, dead: 0 })
    })
  })
}
