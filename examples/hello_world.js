#!/usr/bin/env node
// RabbitMQ's "Hello World!" with mq, in Node: one producer, one consumer.
//
//   node examples/hello_world.js           # send, then receive it and exit
//   node examples/hello_world.js send      # send one message
//   node examples/hello_world.js receive   # print messages until Ctrl-C
//
// Needs `npm install` in clients/node once; connects with the PG* environment.
'use strict'
const path = require('path')
const mq = require(path.join(__dirname, '..', 'clients', 'node'))
const pg = require(path.join(__dirname, '..', 'clients', 'node', 'node_modules', 'pg'))

async function main () {
  const mode = process.argv[2] || 'both'
  const client = new pg.Client()
  await client.connect()
  await client.query('CREATE EXTENSION IF NOT EXISTS mq')
  await client.query("SELECT mq_create('hello')") // false if it exists: fine
  if (mode === 'send' || mode === 'both') {
    await mq.send(client, 'hello', 'Hello World!')
    console.log(" [x] Sent 'Hello World!'")
  }
  await client.end()
  if (mode === 'receive' || mode === 'both') {
    const worker = new mq.Worker({}, 'hello', async (job) => {
      console.log(` [x] Received ${JSON.stringify(job.body)} (message ${job.msgId})`)
      if (mode === 'both') worker.stop() // one message is enough here
    })
    if (mode === 'receive') console.log(' [*] Waiting for messages. To exit press CTRL+C')
    await worker.run()
  }
}

main().catch((e) => { console.error(e); process.exit(1) })
