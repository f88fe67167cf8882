// Two y-websocket WebsocketProviders co-edit the `default` XmlFragment through Tandem.
// Usage: WS_URL=ws://host/ws/documents DOC_ID=<id> TOKEN_A=<jwt> TOKEN_B=<jwt>
//        USER_A=<username> USER_B=<username> node coedit.mjs
// Each client claims a name of its own; the other must see the account's username instead.
// Prints one JSON line with what each client ended up with, then exits (1 on timeout).
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { paragraph, until as untilWithin } from './helpers.mjs'

const { WS_URL, DOC_ID, TOKEN_A, TOKEN_B, USER_A, USER_B } = process.env
const deadline = setTimeout(() => { console.error('timed out'); process.exit(1) }, 20000)

function open (token, name) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(WS_URL, DOC_ID, doc, {
    WebSocketPolyfill: WebSocket, params: { token }, disableBc: true
  })
  provider.awareness.setLocalStateField('user', { name })
  return { doc, provider, body: doc.getXmlFragment('default') }
}

const until = (check) => untilWithin(check, Infinity, 20) // the deadline above ends it

const a = open(TOKEN_A, 'Node A')
const b = open(TOKEN_B, 'Node B')
await until(() => a.provider.synced && b.provider.synced)
a.body.insert(a.body.length, [paragraph('from node A')])
b.body.insert(b.body.length, [paragraph('from node B')])
const names = (side) => [...side.provider.awareness.getStates().values()].map((s) => s.user?.name)
await until(() => a.body.length === 2 && b.body.length === 2 &&
  a.body.toString() === b.body.toString() &&
  names(a).includes(USER_B) && names(b).includes(USER_A))
console.log(JSON.stringify({
  a: a.body.toString(), b: b.body.toString(), seenByA: names(a), seenByB: names(b)
}))
a.provider.destroy()
b.provider.destroy()
clearTimeout(deadline)
process.exit(0)
