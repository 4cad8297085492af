'use strict'
// The server of the PG* environment, a database for one test file, and a
// private PgBouncer in transaction mode in front of it.
const { spawn } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const net = require('net')
const pg = require('pg')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function withClient (config, fn) {
  const c = new pg.Client(config)
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

async function createDatabase (name) {
  await withClient({ database: 'postgres' }, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await c.query(`CREATE DATABASE ${name}`)
  })
  await withClient({ database: name }, (c) => c.query('CREATE EXTENSION mq'))
  return { database: name }
}

async function dropDatabase (name) {
  await withClient({ database: 'postgres' }, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
}

function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

async function startPgBouncer (database) {
  const bin = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => fs.existsSync(p))
  if (!bin) throw new Error('pgbouncer is not installed (Debian package pgbouncer)')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mq-pgbouncer-'))
  const port = await freePort()
  const user = process.env.PGUSER || os.userInfo().username
  const host = process.env.PGHOST || '/var/run/postgresql'
  fs.writeFileSync(path.join(dir, 'userlist.txt'), `"${user}" "${process.env.PGPASSWORD || ''}"\n`)
  fs.writeFileSync(path.join(dir, 'pgbouncer.ini'), `[databases]
${database} = host=${host} port=${process.env.PGPORT || 5432} dbname=${database} user=${user}
[pgbouncer]
listen_addr =
listen_port = ${port}
unix_socket_dir = ${dir}
auth_type = trust
auth_file = ${dir}/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 60
ignore_startup_parameters = extra_float_digits
logfile = ${dir}/pgbouncer.log
pidfile = ${dir}/pgbouncer.pid
`)
  const proc = spawn(bin, [path.join(dir, 'pgbouncer.ini')], { stdio: 'ignore' })
  const config = { host: dir, port, database, user, password: '' }
  const deadline = Date.now() + 20000
  for (;;) {
    try {
      await withClient(config, (c) => c.query('SELECT 1'))
      break
    } catch (e) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        proc.kill()
        throw new Error('pgbouncer did not start: ' + e.message)
      }
      await sleep(100)
    }
  }
  return {
    config,
    stop: async () => {
      proc.kill('SIGTERM')
      await new Promise((resolve) => proc.exitCode !== null ? resolve() : proc.on('exit', resolve))
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function waitUntil (cond, { timeout = 30000, step = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(step)
  }
}

let n = 0
const queueName = () => `t_${process.pid}_${Date.now() % 100000}_${n++}`

module.exports = { sleep, withClient, createDatabase, dropDatabase, startPgBouncer, waitUntil, queueName }
