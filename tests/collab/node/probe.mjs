// Real y-websocket WebsocketProviders driven one command at a time, with every frame each one
// sends and receives recorded (decoded), so a test can see exactly what the standard client does.
// Usage: node probe.mjs, then one JSON command per line on stdin; each gets one JSON line back:
//   {"op":"open","name":"a","url":"ws://host:port/ws/documents","doc":"<id>","token":"<jwt>",
//    "connect":true,"user":{"name":"..."},"resyncInterval":-1,"disableBc":true}
//   {"op":"field","name":"a","field":"cursor","value":{...}}   awareness.setLocalStateField
//   {"op":"write","name":"a","text":"..."}    appends a paragraph to the `default` XmlFragment
//   {"op":"connect"|"disconnect"|"destroy"|"terminate","name":"a"}  (terminate: drop the socket)
//   {"op":"params","name":"a","token":"<jwt>"}  the token the next connection uses
//   {"op":"report","name":"a"}                 everything seen so far (see report())
//   {"op":"exit"}
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { createInterface } from 'node:readline'
import { WebsocketProvider } from 'y-websocket'
import { paragraph } from './helpers.mjs'

// Browsers have a global WebSocket; y-websocket's resyncInterval reads WebSocket.OPEN from it.
globalThis.WebSocket ??= WebSocket

const started = Date.now()
const clients = new Map()

// One frame as the test reads it: its message type and, for awareness, its entries.
function decode (data) {
  const bytes = new Uint8Array(data)
  const decoder = decoding.createDecoder(bytes)
  const frame = { type: decoding.readVarUint(decoder), bytes: bytes.length }
  if (frame.type === 0) {
    frame.step = decoding.readVarUint(decoder)
    frame.payload = decoding.readVarUint8Array(decoder).length
  } else if (frame.type === 1) {
    const update = decoding.createDecoder(decoding.readVarUint8Array(decoder))
    frame.entries = []
    for (let n = decoding.readVarUint(update); n > 0; n--) {
      frame.entries.push({
        id: decoding.readVarUint(update),
        clock: decoding.readVarUint(update),
        state: JSON.parse(decoding.readVarString(update))
      })
    }
  } else if (frame.type === 2) {
    decoding.readVarUint(decoder)
    frame.reason = decoding.readVarString(decoder)
  }
  return frame
}

// The `ws` client, recording each frame it sends and receives for `client`.
function recordingSocket (client) {
  return class extends WebSocket {
    constructor (...args) {
      super(...args)
      client.opened++
      this.on('message', (data, binary) => {
        client.received.push({ at: Date.now() - started, ...(binary ? decode(data) : { text: true }) })
      })
    }

    send (data, ...rest) {
      client.sent.push({ at: Date.now() - started, ...decode(data) })
      return super.send(data, ...rest)
    }
  }
}

function open ({ name, url, doc: docId, token, connect = true, user, resyncInterval = -1, disableBc = true }) {
  const doc = new Y.Doc()
  const client = { doc, opened: 0, sent: [], received: [], statuses: [], closes: [], closed: [], removed: [], added: [] }
  client.provider = new WebsocketProvider(url, docId, doc, {
    WebSocketPolyfill: recordingSocket(client), params: { token }, connect: false, resyncInterval, disableBc
  })
  const { provider } = client
  if (user) provider.awareness.setLocalStateField('user', user)
  provider.on('status', ({ status }) => client.statuses.push(status))
  provider.on('connection-close', (event) => client.closes.push(event ? event.code : null))
  provider.on('closed', ({ code }) => client.closed.push(code))
  provider.awareness.on('change', ({ added, removed }) => {
    client.added.push(...added)
    client.removed.push(...removed)
  })
  clients.set(name, client)
  if (connect) provider.connect()
  return { clientID: doc.clientID }
}

function report (client) {
  const { provider, doc } = client
  const states = {}
  for (const [id, state] of provider.awareness.getStates()) states[id] = state
  const clocks = {}
  for (const [id, meta] of provider.awareness.meta) clocks[id] = meta.clock
  return {
    clientID: doc.clientID,
    synced: provider.synced,
    connected: provider.wsconnected,
    shouldConnect: provider.shouldConnect,
    opened: client.opened,
    statuses: client.statuses,
    closes: client.closes,
    closed: client.closed,
    added: client.added,
    removed: client.removed,
    states,
    clocks,
    text: doc.getXmlFragment('default').toString(),
    sent: client.sent,
    received: client.received
  }
}

const commands = {
  open,
  field: ({ name, field, value }) => clients.get(name).provider.awareness.setLocalStateField(field, value),
  write: ({ name, text }) => {
    const body = clients.get(name).doc.getXmlFragment('default')
    body.insert(body.length, [paragraph(text)])
  },
  connect: ({ name }) => clients.get(name).provider.connect(),
  disconnect: ({ name }) => clients.get(name).provider.disconnect(),
  destroy: ({ name }) => clients.get(name).provider.destroy(),
  terminate: ({ name }) => clients.get(name).provider.ws.terminate(),
  params: ({ name, token }) => { clients.get(name).provider.params = { token } },
  report: ({ name }) => report(clients.get(name)),
  exit: () => process.exit(0)
}

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line)
  let answer
  try {
    answer = { ok: true, result: commands[command.op](command) ?? null }
  } catch (error) {
    answer = { ok: false, error: String(error && error.stack || error) }
  }
  console.log(JSON.stringify(answer))
}
process.exit(0)
