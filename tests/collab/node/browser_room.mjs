// Real y-websocket WebsocketProviders (awareness on) that join browsers in one document: each
// moves a ProseMirror-valid cursor through the editor's text, and they report what they see.
// Usage: node browser_room.mjs, then on stdin one JSON line per step:
//   1. { "url": "ws://host:port/ws/documents", "doc": "<document id>", "tokens": ["<jwt>", ...],
//        "names": ["<username of each token>", ...], "cursorEvery": 1000, "deadlineSeconds": 300 }
//      prints { "ready": true } once every provider has synced;
//   2. { "paragraphs": ["...", ...], "browsers": ["<username>", ...], "waitSeconds": 30 }
//      waits until every provider holds those paragraphs and shows everyone else (the browsers'
//      and the other providers' account names), prints one
//      JSON line of what it saw, and exits (1 on the deadline).
import { createInterface } from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { until } from './helpers.mjs'

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const readStep = async () => JSON.parse((await lines.next()).value)

const { url, doc: docId, tokens, names, cursorEvery = 1000, deadlineSeconds = 300 } = await readStep()
const deadline = setTimeout(() => { console.error('timed out'); process.exit(1) }, deadlineSeconds * 1000)

let stopping = false
const clients = tokens.map((token, i) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, docId, doc, { WebSocketPolyfill: WebSocket, params: { token }, disableBc: true })
  // A name of the provider's own invention: the server shows the account's instead.
  provider.awareness.setLocalStateField('user', { name: `claimed-${i}`, color: `#3${(i % 10)}66aa` })
  const client = { name: names[i], doc, provider, fragment: doc.getXmlFragment('default'), closes: [] }
  provider.on('connection-close', (event) => { if (!stopping) client.closes.push(event?.code ?? 0) })
  return client
})

const textOf = (node) => node instanceof Y.XmlText
  ? node.toDelta().map((d) => (typeof d.insert === 'string' ? d.insert : '')).join('')
  : node.toArray().map(textOf).join('')
const paragraphs = (client) => client.fragment.toArray().map(textOf)

// A cursor the way y-prosemirror writes one: relative positions inside a paragraph's text.
const moveCursor = (client) => {
  const texts = client.fragment.toArray().map((block) => block.length && block.get(0)).filter((t) => t instanceof Y.XmlText)
  const text = texts.length ? texts[Math.floor(Math.random() * texts.length)] : null
  const [type, size] = text ? [text, text.length] : [client.fragment, 0]
  const at = (index) => Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(type, index))
  const anchor = Math.floor(Math.random() * (size + 1))
  client.provider.awareness.setLocalStateField('cursor', { anchor: at(anchor), head: at(Math.min(size, anchor + 3)) })
}

await until(() => clients.every((c) => c.provider.synced), 60000, 100)
const connectedAt = Date.now()
console.log(JSON.stringify({ ready: clients.every((c) => c.provider.synced) }))
const timers = clients.map((c) => setTimeout(() => {
  c.timer = setInterval(() => moveCursor(c), cursorEvery)
}, Math.random() * cursorEvery))

const { paragraphs: expected, browsers, waitSeconds = 30 } = await readStep()
const same = (c) => JSON.stringify(paragraphs(c)) === JSON.stringify(expected)
const shown = (c) => new Set([...c.provider.awareness.getStates()].filter(([id]) => id !== c.doc.clientID).map(([, s]) => s.user?.name))
const seesEveryone = (c) => [...browsers, ...names].every((name) => name === c.name || shown(c).has(name))
await until(() => clients.every((c) => same(c) && seesEveryone(c)), waitSeconds * 1000, 100)
timers.forEach(clearTimeout)
clients.forEach((c) => clearInterval(c.timer))
stopping = true
const result = {
  ranSeconds: (Date.now() - connectedAt) / 1000,
  converged: clients.filter(same).length,
  differing: clients.filter((c) => !same(c)).map(paragraphs).slice(0, 2),
  seeingEveryone: clients.filter(seesEveryone).length,
  claimedNamesShown: clients.filter((c) => [...shown(c)].some((n) => String(n).startsWith('claimed-'))).length,
  closes: clients.flatMap((c) => c.closes)
}
console.log(JSON.stringify(result))
clients.forEach((c) => c.provider.destroy())
clearTimeout(deadline)
process.exit(0)
