// Large changes from a real y-websocket WebsocketProvider, watched by a second one.
// Usage: WS_URL=ws://host/ws/documents DOC_ID=<id> TOKEN_A=<jwt> TOKEN_B=<jwt> MODE=<mode>
//        MEGABYTES=<n> [WS_URL_B=<B's server, default WS_URL>] node paste.mjs
// MODE=paste: A pastes MEGABYTES of text (paragraphs "p<i>:xxx...", 1,000 characters each)
//   in one change; B waits until it has every paragraph.
// MODE=offline: A goes offline, makes the same text in 1,000-paragraph changes, reconnects.
// MODE=refused: A pastes; prints the close codes both saw within 5 s (B must keep its socket).
// Prints one JSON line: paragraphs each side holds, seconds, close codes; exits 1 on timeout.
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { sleep, until as untilWithin } from './helpers.mjs'

const { WS_URL, DOC_ID, TOKEN_A, TOKEN_B, MODE, MEGABYTES } = process.env
const WS_URL_B = process.env.WS_URL_B ?? WS_URL
const deadline = setTimeout(() => { console.error('timed out'); process.exit(1) }, 240000)
const until = (check) => untilWithin(check, Infinity, 20) // the deadline above ends it

function open (url, token) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, DOC_ID, doc, {
    WebSocketPolyfill: WebSocket, params: { token }, disableBc: true
  })
  provider.awareness.setLocalStateField('user', { name: 'paster' })
  const side = { doc, provider, body: doc.getXmlFragment('default'), closes: [], reasons: [] }
  provider.on('connection-close', (event) => {
    side.closes.push(event?.code ?? 0)
    side.reasons.push(event?.reason ?? '')
  })
  return side
}

function paragraphs (from, count) {
  return Array.from({ length: count }, (_, k) => {
    const p = new Y.XmlElement('paragraph')
    const label = `p${from + k}:`
    p.insert(0, [new Y.XmlText(label + 'x'.repeat(1000 - label.length))])
    return p
  })
}

const a = open(WS_URL, TOKEN_A)
const b = open(WS_URL_B, TOKEN_B)
await until(() => a.provider.synced && b.provider.synced)
const total = Math.round(Number(MEGABYTES) * 1000)
const started = Date.now()
if (MODE === 'offline') {
  a.provider.disconnect()
  await until(() => a.closes.length === 1)
  a.closes = [] // its own
  for (let from = 0; from < total; from += 1000) {
    a.body.insert(a.body.length, paragraphs(from, Math.min(1000, total - from)))
  }
  a.provider.connect()
} else {
  a.body.insert(0, paragraphs(0, total))
}
if (MODE === 'refused') await sleep(5000)
else await until(() => b.body.length === total)
console.log(JSON.stringify({
  a: a.body.length,
  b: b.body.length,
  lastAtB: b.body.length ? b.body.get(b.body.length - 1).toString().slice(0, 40) : null,
  seconds: (Date.now() - started) / 1000,
  closesA: a.closes,
  closesB: b.closes,
  reasonsA: a.reasons
}))
a.provider.destroy()
b.provider.destroy()
clearTimeout(deadline)
process.exit(0)
