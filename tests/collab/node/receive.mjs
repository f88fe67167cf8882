// A real y-websocket client on the receiving end of whatever other clients send.
// Usage: WS_URL=ws://host/ws/documents DOC_ID=<id> TOKEN=<jwt> MARKER=<text> [NAME=<name>] node receive.mjs
// Prints "ready" once synced; then waits until an awareness state {user: {name: NAME}} (NAME
// defaults to MARKER) and a paragraph with the text MARKER arrived, and prints one JSON line: every error the provider
// raised while decoding what it received, the awareness states and the document text.
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const { WS_URL, DOC_ID, TOKEN, MARKER } = process.env
const NAME = process.env.NAME ?? MARKER
const errors = []
process.on('uncaughtException', (error) => errors.push(String(error && error.stack || error)))
const deadline = setTimeout(() => { finish(1) }, 30000)

const doc = new Y.Doc()
const provider = new WebsocketProvider(WS_URL, DOC_ID, doc, {
  WebSocketPolyfill: WebSocket, params: { token: TOKEN }, disableBc: true
})
const body = doc.getXmlFragment('default')
provider.on('sync', (synced) => { if (synced) console.log('ready') })

function states () {
  return [...provider.awareness.getStates().entries()].map(([id, state]) => ({ id, state }))
}

function finish (code) {
  console.log(JSON.stringify({ errors, states: states(), text: body.toString() }))
  provider.destroy()
  clearTimeout(deadline)
  process.exit(code)
}

const timer = setInterval(() => {
  const seen = states().some(({ state }) => state && state.user && state.user.name === NAME)
  if (seen && body.toString().includes(MARKER)) { clearInterval(timer); finish(0) }
}, 20)
