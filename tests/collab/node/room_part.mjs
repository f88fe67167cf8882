// Part of a room of real y-websocket WebsocketProviders (awareness on), driven step by step by
// a test: one room can span several Node processes (one event loop cannot keep up with a few
// hundred providers) and the test can break servers while the room runs.
// Usage: node room_part.mjs, then on stdin one JSON line of config:
//   { "urls": ["ws://host:port/ws/documents", ...],
//     "doc": "<document id>", "tokens": ["<jwt>", ...] (this part's providers),
//     "first": 0 (the room index of this part's first provider; room index 0 is the writer),
//     "names": ["<username>", ...] (every provider of the room, by room index),
//     "writeEvery": 500, "cursorEvery": 1000,
//     "failover": false (true: a provider whose connection closes retries the next url,
//                        as a load balancer would send it to a replica that is up) }
// and then one command per line, each answered by one JSON line on stdout:
//   (none yet)       -> { synced }                 every provider connected and synced
//   start            -> { started }                cursors move; room provider 0 writes
//   stop             -> { written }                the writing stops (cursors keep moving)
//   settle N MS [SV] -> figures of the run         waits up to MS ms for N writes everywhere,
//                                                  everyone to see everyone and every document
//                                                  to reach the state vector SV (JSON of
//                                                  client: clock, from the database)
//   leave            -> { leaver, name }           this part's last provider leaves
//   left ID NAME MS  -> { leaverGone, othersRemoved, stillSeeingEveryoneElse }
//                                                  once the leaver (client ID, account NAME) is gone
//   quit             -> exits
// Room provider 0 pushes { k, t } into the Y.Array 'log' every writeEvery ms; every other
// provider measures how long each write took to reach it (one clock: one machine).
import readline from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { sleep, until } from './helpers.mjs'

process.setMaxListeners(0) // each provider listens for the process's exit
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const config = JSON.parse((await lines.next()).value)
const { urls, doc: docId, tokens, first = 0, names, writeEvery = 500, cursorEvery = 1000, failover = false } = config
const say = (message) => process.stdout.write(JSON.stringify(message) + '\n')

let stopping = false
const clients = tokens.map((token, k) => {
  const i = first + k
  const doc = new Y.Doc()
  const order = urls.map((_, j) => urls[(i + j) % urls.length])
  const provider = new WebsocketProvider(order[0], docId, doc, {
    WebSocketPolyfill: WebSocket, params: { token }, disableBc: true
  })
  provider.awareness.setLocalStateField('user', { name: `claimed-${i}`, color: `#00${(i % 100).toString().padStart(2, '0')}ff` })
  const client = { i, doc, provider, log: doc.getArray('log'), closes: [], connects: 0, seen: new Map(), lostCursors: 0, hops: 0 }
  provider.on('connection-close', (event) => {
    if (stopping) return
    client.closes.push(event?.code ?? 0)
    if (failover) provider.serverUrl = order[++client.hops % order.length]
  })
  provider.on('status', ({ status }) => { if (status === 'connected') client.connects++ })
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

// What a client shows of the others (its own state is its own, unstamped), by name.
const shown = (c) => new Set([...c.provider.awareness.getStates()].filter(([id]) => id !== c.doc.clientID).map(([, s]) => s.user?.name))
const seesAllBut = (c, skip) => {
  const seen = shown(c)
  return names.every((name, j) => j === c.i || skip.has(name) || seen.has(name))
}
const vector = (c) => Y.decodeStateVector(Y.encodeStateVector(c.doc))
const sameVector = (a, b) => a.size === b.size && [...a].every(([client, clock]) => b.get(client) === clock)
const vectorText = (c) => JSON.stringify(Object.fromEntries(vector(c)))

let writer = null
let written = 0
const cursors = []
let present = clients
let baseline = []

say({ synced: await until(() => clients.every((c) => c.provider.synced), 120000) })

for (let next = await lines.next(); !next.done; next = await lines.next()) {
  const [command, ...args] = next.value.trim().split(/\s+/)
  if (command === 'start') {
    for (const c of clients) {
      cursors.push(setTimeout(() => {
        cursors.push(setInterval(() => {
          c.provider.awareness.setLocalStateField('cursor', { anchor: Math.floor(Math.random() * 1000), head: Math.floor(Math.random() * 1000) })
        }, cursorEvery))
      }, Math.random() * cursorEvery))
    }
    const author = clients.find((c) => c.i === 0)
    if (author) writer = setInterval(() => { author.log.push([{ k: written++, t: Date.now() }]) }, writeEvery)
    say({ started: true })
  } else if (command === 'stop') {
    clearInterval(writer)
    say({ written })
  } else if (command === 'settle') {
    const expected = Number(args[0])
    const ms = Number(args[1])
    // The state vector everyone must reach (the database's, from the test), else the first's.
    const target = args[2] ? new Map(Object.entries(JSON.parse(args[2])).map(([k, v]) => [Number(k), v])) : null
    const started = Date.now()
    const left = () => Math.max(1000, ms - (Date.now() - started))
    const delivered = await until(() => clients.every((c) => c.log.length === expected), ms)
    const none = new Set()
    await until(() => clients.every((c) => seesAllBut(c, none)), left())
    const converged = await until(() => clients.every((c) => sameVector(vector(c), target ?? vector(clients[0]))), left())
    const readers = clients.filter((c) => c.i !== 0)
    baseline = clients.map((c) => c.lostCursors)
    say({
      settleSeconds: (Date.now() - started) / 1000,
      delivered,
      latencies: readers.flatMap((c) => [...c.seen.values()]),
      readers: readers.length,
      closes: clients.flatMap((c) => c.closes.map((code) => [c.i, code])),
      reconnects: clients.reduce((n, c) => n + c.connects - 1, 0),
      connected: clients.filter((c) => c.provider.wsconnected && c.provider.synced).length,
      converged,
      vectors: [...new Set(clients.map(vectorText))],
      logsEqual: new Set(clients.map((c) => JSON.stringify(c.log.toJSON().map((e) => e.k)))).size === 1,
      seeingEveryone: clients.filter((c) => seesAllBut(c, none)).length,
      claimedNamesShown: clients.filter((c) => [...shown(c)].some((n) => String(n).startsWith('claimed-'))).length,
      cursorsLostWhilePresent: clients.reduce((n, c) => n + c.lostCursors, 0)
    })
  } else if (command === 'leave') {
    const leaver = present[present.length - 1]
    present = present.slice(0, -1)
    leaver.provider.destroy()
    say({ leaver: leaver.doc.clientID, name: names[leaver.i] })
  } else if (command === 'left') {
    const [leaverId, leaverName, ms] = [Number(args[0]), args[1], Number(args[2])]
    const gone = await until(() => present.every((c) => !c.provider.awareness.getStates().has(leaverId)), ms)
    await sleep(1000)
    const skip = new Set([leaverName])
    say({
      leaverGone: gone,
      othersRemoved: present.reduce((n, c) => n + c.lostCursors - baseline[clients.indexOf(c)], 0) - present.length,
      stillSeeingEveryoneElse: present.filter((c) => seesAllBut(c, skip)).length
    })
  } else if (command === 'quit') {
    break
  }
}
stopping = true
clearInterval(writer)
cursors.forEach((timer) => { clearTimeout(timer); clearInterval(timer) })
present.forEach((c) => c.provider.destroy())
process.exit(0)
