'use strict'
// The Node examples of examples/ and the Node program of the README, run as
// written against the server of the PG* environment.
const { it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('child_process')
const fs = require('fs')
const path = require('path')
const h = require('./helpers')

const TOP = path.join(__dirname, '..', '..', '..')
const DB = 'mq_node_examples'
const env = { ...process.env, PGDATABASE: DB }

before(() => h.createDatabase(DB))
after(() => h.dropDatabase(DB))

// run a program from the top of the tree; optionally signal it once a line matches
function run (args, { signalAfter = null, timeout = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: TOP, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out: ${out}${err}`)) }, timeout)
    child.stdout.on('data', (d) => {
      out += d
      if (signalAfter && signalAfter.test(out)) {
        signalAfter = null
        child.kill('SIGINT')
      }
    })
    child.stderr.on('data', (d) => { err += d })
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0) reject(new Error(`exit ${code}: ${out}${err}`))
      else resolve(out)
    })
  })
}

async function metrics (queue) {
  return h.withClient({ database: DB }, async (c) =>
    (await c.query('SELECT ready::int, in_flight::int, dead::int FROM mq_metrics($1)', [queue])).rows[0])
}

it('hello_world.js', async () => {
  const out = await run(['examples/hello_world.js'])
  assert.match(out, /^ \[x\] Sent 'Hello World!'\n \[x\] Received "Hello World!" \(message 1\)\n$/)
  assert.deepEqual(await metrics('hello'), { ready: 0, in_flight: 0, dead: 0 })
  await run(['examples/hello_world.js', 'send'])
  const recv = await run(['examples/hello_world.js', 'receive'], { signalAfter: /Received/ })
  assert.match(recv, /Received "Hello World!" \(message 2\)/)
})

it('work_queue.js', async () => {
  const out = await run(['examples/work_queue.js'])
  assert.match(out, /all 8 tasks done, each once: true; acked 8, nacked 1/)
  assert.deepEqual(await metrics('task_queue_js'), { ready: 0, in_flight: 0, dead: 0 })
  await run(['examples/work_queue.js', 'new_task', 'A', 'task..'])
  const w = await run(['examples/work_queue.js', 'worker'], { signalAfter: /done with "A task\.\."/ })
  assert.match(w, /received "A task\.\." \(message 9, attempt 1\)/)
})

it('the README program', async () => {
  const readme = fs.readFileSync(path.join(TOP, 'README.md'), 'utf8')
  const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1])
  assert.equal(blocks.length, 1)
  const out = await run(['-e', blocks[0]], { signalAfter: /sending to ada@example\.com\n/ })
  assert.equal(out, 'sending to ada@example.com\n')
  assert.deepEqual(await metrics('emails'), { ready: 0, in_flight: 0, dead: 0 })
})
