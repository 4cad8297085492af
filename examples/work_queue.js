#!/usr/bin/env node
// RabbitMQ's "Work queues" with mq, in Node: tasks shared among workers,
// each done once; a failing task is retried; leases are extended while a
// task runs.
//
//   node examples/work_queue.js                     # send 8 tasks, 3 workers do them, exit
//   node examples/work_queue.js new_task A task...  # send one task (each dot: 0.1 s of work)
//   node examples/work_queue.js worker              # work until Ctrl-C
'use strict'
const path = require('path')
const mq = require(path.join(__dirname, '..', 'clients', 'node'))
const pg = require(path.join(__dirname, '..', 'clients', 'node', 'node_modules', 'pg'))

const QUEUE = 'task_queue_js'
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function main () {
  const mode = process.argv[2] || 'both'
  const client = new pg.Client()
  await client.connect()
  await client.query('CREATE EXTENSION IF NOT EXISTS mq')
  await client.query(`SELECT mq_create($1, visibility_timeout => '2 seconds', max_attempts => 3,
                                       backoff_base => '100 milliseconds')`, [QUEUE])
  const tasks = ['First.', 'Second..', 'Third...', 'Fourth....', 'Fifth.....',
    'Sixth (fail).', 'Seventh...........................', 'Eighth.']
  if (mode === 'new_task') {
    const task = process.argv.slice(3).join(' ') || 'Hello World...'
    await mq.send(client, QUEUE, { task })
    console.log(` [x] Sent ${JSON.stringify(task)}`)
    return client.end()
  }
  if (mode === 'both') {
    await mq.sendBatch(client, QUEUE, tasks.map((task) => ({ task })))
    console.log(` [x] Sent ${tasks.length} tasks`)
  }
  await client.end()

  const done = new Map()
  const worker = new mq.Worker({}, QUEUE, async (job) => {
    const task = job.body.task
    console.log(` [x] received ${JSON.stringify(task)} (message ${job.msgId}, attempt ${job.attempt})`)
    if (task.includes('fail') && job.attempt === 1) throw new Error(`${JSON.stringify(task)} failed on attempt 1`)
    await sleep(100 * (task.split('.').length - 1))
    done.set(task, (done.get(task) || 0) + 1)
    console.log(` [x] done with ${JSON.stringify(task)}`)
    return { done: task }
  }, { concurrency: 3, visibilityTimeout: 2, retryDelay: 0.1 })

  if (mode === 'worker') {
    console.log(' [*] Waiting for tasks. To exit press CTRL+C')
    return worker.run()
  }
  worker.start()
  while ([...done.values()].reduce((a, b) => a + b, 0) < tasks.length) await sleep(50)
  await worker.stop()
  console.log(` [x] all ${tasks.length} tasks done, each once: ${[...done.values()].every((n) => n === 1)};` +
    ` acked ${worker.counts.acked}, nacked ${worker.counts.nacked}, lease extensions ${worker.counts.extended}`)
}

main().catch((e) => { console.error(e); process.exit(1) })
