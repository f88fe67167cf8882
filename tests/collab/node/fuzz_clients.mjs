// Convergence fuzz with real y-websocket WebsocketProviders (awareness on, as browsers run
// them): per seed, N providers on one document, spread over the replicas, make seeded random
// edits (paragraphs and headings inserted and deleted, heading levels changed, text typed and
// deleted, astral characters included, bold and italic set and removed) while they drop their
// connections without a close frame, go offline and come back on a random replica, and send
// their last update frame twice. Then every provider comes back, a fresh provider joins on each
// replica, and the script waits until all of them hold the same document.
// Usage: FUZZ_CONFIG=<file> node fuzz_clients.mjs, the file holding
//   { "urls": ["ws://host:port/ws/documents", ...] (one per replica),
//     "clients": 4, "steps": 60, "timeout": 30000 (ms to converge, per seed),
//     "runs": [{ "seed": 1, "doc": "<document id>", "token": "<jwt>" }, ...] }
// Prints one JSON line: { runs: [{ seed, doc, counts, converged, seconds, clients: [
//   { state: base64 of Y.encodeStateAsUpdate, vector: { client: clock } }, ...] }] }, the
// fresh providers last. Whether they agree with the database is for yjs_judge.mjs to say.
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { WebsocketProvider } from 'y-websocket'
import { sleep, until } from './helpers.mjs'

const config = JSON.parse(readFileSync(process.env.FUZZ_CONFIG, 'utf8'))
const { urls, clients: count, steps, timeout = 30000 } = config

// mulberry32: a small seeded generator, so a seed replays the same choices.
const generator = (seed) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

// Typed text: ASCII, accents, CJK and astral characters (two UTF-16 code units each).
const GLYPHS = ['a', 'b', 'c', 'x', 'y', 'z', ' ', 'é', '中', '😀', '𝄞', '👍🏽', '🇫🇷']

function open (url, docId, token, doc = new Y.Doc()) {
  const provider = new WebsocketProvider(url, docId, doc, {
    WebSocketPolyfill: WebSocket, params: { token }, disableBc: true, maxBackoffTime: 500
  })
  provider.awareness.setLocalStateField('user', { name: `fuzz-${doc.clientID}` })
  const client = { doc, provider, body: doc.getXmlFragment('default'), last: null }
  doc.on('update', (update, origin) => { if (origin !== provider) client.last = update })
  return client
}

// Offsets an editor can produce: never between the two halves of a surrogate pair.
function boundaries (text) {
  const string = text.toDelta().map((d) => d.insert).join('') // text only: no embeds here
  const offsets = [0]
  for (const char of string) offsets.push(offsets[offsets.length - 1] + char.length)
  return offsets
}

function edit (client, rnd) {
  const pick = (items) => items[Math.floor(rnd() * items.length)]
  const body = client.body
  const blocks = body.length
  const action = pick(['block', 'type', 'type', 'type', 'delete', 'format', 'format', 'level', 'drop-block'])
  const word = Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => pick(GLYPHS)).join('')
  if (action === 'block' || blocks === 0) {
    const heading = rnd() < 0.4
    const block = new Y.XmlElement(heading ? 'heading' : 'paragraph')
    if (heading) block.setAttribute('level', String(1 + Math.floor(rnd() * 3)))
    block.insert(0, [new Y.XmlText(word)])
    body.insert(Math.floor(rnd() * (blocks + 1)), [block])
    return
  }
  const index = Math.floor(rnd() * blocks)
  const block = body.get(index)
  const text = block.toArray().find((child) => child instanceof Y.XmlText)
  if (action === 'drop-block' || !text) {
    body.delete(index, 1)
    return
  }
  if (action === 'level') {
    block.setAttribute('level', String(1 + Math.floor(rnd() * 3)))
    return
  }
  const offsets = boundaries(text)
  const at = Math.floor(rnd() * offsets.length)
  const span = () => offsets[Math.min(offsets.length - 1, at + 1 + Math.floor(rnd() * 4))] - offsets[at]
  if (action === 'type') {
    text.insert(offsets[at], word, rnd() < 0.2 ? { bold: true } : undefined)
  } else if (action === 'delete' && offsets.length > 1) {
    const length = span()
    if (length > 0) text.delete(offsets[at], length)
  } else if (action === 'format' && offsets.length > 1) {
    const length = span()
    if (length > 0) text.format(offsets[at], length, { [pick(['bold', 'italic'])]: rnd() < 0.6 ? true : null })
  }
}

// The update frame of sync protocol type 2 (update), as a provider sends a local change.
function updateFrame (update) {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0) // messageSync
  syncProtocol.writeUpdate(encoder, update)
  return encoding.toUint8Array(encoder)
}

const vector = (doc) => Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(doc)))
const pending = (doc) => doc.store.pendingStructs !== null || doc.store.pendingDs !== null
const live = (c) => c.provider.wsconnected && c.provider.synced

function agree (fleet) {
  const [first, ...rest] = fleet
  const shot = Y.snapshot(first.doc)
  const text = first.body.toString()
  return fleet.every((c) => live(c) && !pending(c.doc)) &&
    rest.every((c) => c.body.toString() === text && Y.equalSnapshots(Y.snapshot(c.doc), shot))
}

async function runSeed ({ seed, doc: docId, token }) {
  const rnd = generator(seed)
  const url = () => urls[Math.floor(rnd() * urls.length)]
  const counts = { edits: 0, drops: 0, offline: 0, reconnects: 0, duplicates: 0, delays: 0 }
  const fleet = Array.from({ length: count }, (_, i) => open(urls[i % urls.length], docId, token))
  const started = Date.now()
  try {
    if (!await until(() => fleet.every(live), timeout, 10)) throw new Error(`seed ${seed}: providers did not sync`)
    for (let step = 0; step < steps; step++) {
      const client = fleet[Math.floor(rnd() * count)]
      const { provider } = client
      const roll = rnd()
      if (roll < 0.05 && provider.ws) { // the connection dies without a close frame
        provider.serverUrl = url() // the provider reconnects by itself, maybe elsewhere
        provider.ws.terminate()
        counts.drops++
      } else if (roll < 0.09 && provider.shouldConnect) {
        provider.disconnect()
        counts.offline++
      } else if (roll < 0.14 && !provider.shouldConnect) {
        provider.serverUrl = url()
        provider.connect()
        counts.reconnects++
      } else if (roll < 0.2 && live(client) && client.last) {
        provider.ws.send(updateFrame(client.last))
        provider.ws.send(updateFrame(client.last))
        counts.duplicates += 2
      } else if (roll < 0.27) {
        await sleep(rnd() * 50)
        counts.delays++
      } else {
        edit(client, rnd)
        counts.edits++
      }
      await sleep(0) // the providers' reads run between the steps
    }
    for (const client of fleet) {
      if (!client.provider.shouldConnect) {
        client.provider.serverUrl = url()
        client.provider.connect()
      }
    }
    for (const each of urls) fleet.push(open(each, docId, token)) // what each live room holds
    const converged = await until(() => agree(fleet), timeout, 20)
    return {
      seed,
      doc: docId,
      counts,
      converged,
      seconds: (Date.now() - started) / 1000,
      clients: fleet.map((c) => ({
        state: Buffer.from(Y.encodeStateAsUpdate(c.doc)).toString('base64'), vector: vector(c.doc)
      }))
    }
  } finally {
    fleet.forEach((c) => c.provider.destroy())
  }
}

const runs = []
for (const run of config.runs) {
  runs.push(await runSeed(run))
  console.error(`seed ${run.seed}: ${JSON.stringify(runs[runs.length - 1].counts)}`)
}
// Exit once the answer is flushed: to a pipe, stdout writes are asynchronous.
process.stdout.write(JSON.stringify({ runs }) + '\n', () => process.exit(0))
