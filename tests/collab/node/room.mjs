// A room of real y-websocket WebsocketProviders (awareness on, as every editor has it) in one
// document: each moves its cursor every second, one types, then one leaves.
// Usage: node room.mjs < config.json, where config is
//   { "urls": ["ws://host:port/ws/documents", ...],  providers go round-robin over them
//     "doc": "<document id>", "tokens": ["<jwt>", ...], "names": ["<username>", ...],
//     "seconds": 50, "writeEvery": 500, "cursorEvery": 1000 }
// Prints one JSON line of what it saw, then exits (1 on a broken deadline).
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const config = JSON.parse(Buffer.concat(chunks).toString())
const { urls, doc: docId, tokens, names, seconds, writeEvery = 500, cursorEvery = 1000 } = config
const deadline = setTimeout(() => { console.error('timed out'); process.exit(1) }, (seconds + 120) * 1000)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const until = async (check, ms) => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) return false
    await sleep(50)
  }
  return true
}

let stopping = false
const clients = tokens.map((token, i) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(urls[i % urls.length], docId, doc, {
    WebSocketPolyfill: WebSocket, params: { token }, disableBc: true
  })
  // A name of the client's own invention: the server shows the account's instead.
  provider.awareness.setLocalStateField('user', { name: `claimed-${i}`, color: `#00${(i % 100).toString().padStart(2, '0')}ff` })
  const client = { i, doc, provider, log: doc.getArray('log'), closes: [], seen: new Map(), lostCursors: 0 }
  provider.on('connection-close', (event) => { if (!stopping) client.closes.push(event?.code ?? 0) })
  client.log.observe((event) => {
    const now = Date.now()
    for (const item of event.changes.added) {
      for (const entry of item.content.getContent()) {
        if (!client.seen.has(entry.k)) client.seen.set(entry.k, now - entry.t)
      }
    }
  })
  provider.awareness.on('change', ({ removed }) => {
    if (!stopping) client.lostCursors += removed.length
  })
  return client
})

const synced = await until(() => clients.every((c) => c.provider.synced), 60000)
const connectedAt = Date.now()

// Everyone moves a cursor once per cursorEvery (staggered); client 0 writes every writeEvery.
const timers = clients.map((c) => setTimeout(() => {
  c.timer = setInterval(() => {
    c.provider.awareness.setLocalStateField('cursor', { anchor: Math.floor(Math.random() * 1000), head: Math.floor(Math.random() * 1000) })
  }, cursorEvery)
}, Math.random() * cursorEvery))
let written = 0
const writer = setInterval(() => {
  clients[0].log.push([{ k: written++, t: Date.now() }])
}, writeEvery)
await sleep(seconds * 1000)
clearInterval(writer)
timers.forEach(clearTimeout)
clients.forEach((c) => clearInterval(c.timer))

const readers = clients.slice(1)
await until(() => readers.every((c) => c.log.length === written), 30000)
const latencies = readers.flatMap((c) => [...c.seen.values()]).sort((a, b) => a - b)
const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null
// What each client shows of the others (its own state is its own, unstamped).
const shown = (c) => new Set([...c.provider.awareness.getStates()].filter(([id]) => id !== c.doc.clientID).map(([, s]) => s.user?.name))
const seesEveryone = (c) => names.every((name, j) => j === c.i || shown(c).has(name))
await until(() => clients.every(seesEveryone), 20000)
const result = {
  synced,
  ranSeconds: (Date.now() - connectedAt) / 1000,
  written,
  delivered: latencies.length,
  lost: readers.length * written - latencies.length,
  p50: pct(0.5),
  p99: pct(0.99),
  closes: clients.flatMap((c) => c.closes),
  converged: readers.every((c) => Y.encodeStateVector(c.doc).toString() === Y.encodeStateVector(clients[0].doc).toString() && c.log.length === written),
  seeingEveryone: clients.filter(seesEveryone).length,
  claimedNamesShown: clients.filter((c) => [...shown(c)].some((n) => String(n).startsWith('claimed-'))).length,
  cursorsLostWhilePresent: clients.reduce((n, c) => n + c.lostCursors, 0)
}

// One leaves: everyone else loses that cursor and only that one.
const leaver = clients[clients.length - 1]
const leaverId = leaver.doc.clientID
const stayers = clients.slice(0, -1)
const before = stayers.map((c) => c.lostCursors)
leaver.provider.destroy()
const gone = await until(() => stayers.every((c) => !c.provider.awareness.getStates().has(leaverId)), 10000)
await sleep(1000)
result.afterLeave = {
  leaverGone: gone,
  othersRemoved: stayers.reduce((n, c, k) => n + c.lostCursors - before[k], 0) - stayers.length,
  stillSeeingEveryoneElse: stayers.filter((c) => stayers.every((o) => c.provider.awareness.getStates().has(o.doc.clientID))).length
}
stopping = true
console.log(JSON.stringify(result))
stayers.forEach((c) => c.provider.destroy())
clearTimeout(deadline)
process.exit(0)
