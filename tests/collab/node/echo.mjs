// What a real WebsocketProvider answers to awareness frames, byte for byte.
// Usage: ECHO_INPUT=<file> node echo.mjs, the file holding
//   { "clientID": 7, "ownClock": 1, "frames": ["<base64 awareness frame>", ...] }
// A WebSocket server on a free local port serves one y-websocket provider (awareness on, as
// browsers run it) whose Y.Doc has `clientID`; once it has sent its own state, each frame is
// sent to it in turn and the awareness frames it sends back are recorded: its first answer
// (waited for up to 10 s) and anything more within 200 ms after it.
// Prints one JSON line: { "answers": [["<base64 frame>", ...] per frame sent] }.
import { readFileSync } from 'node:fs'
import WebSocket, { WebSocketServer } from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const input = JSON.parse(readFileSync(process.env.ECHO_INPUT, 'utf8'))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
await new Promise((resolve) => server.once('listening', resolve))
const connected = new Promise((resolve) => server.once('connection', resolve))

const doc = new Y.Doc()
doc.clientID = input.clientID
const provider = new WebsocketProvider(`ws://127.0.0.1:${server.address().port}`, 'echo', doc, {
  WebSocketPolyfill: WebSocket,
  disableBc: true,
  resyncInterval: -1
})
provider.awareness.setLocalStateField('user', { name: 'me', color: '#123456' })
const ownClock = provider.awareness.meta.get(input.clientID).clock
if (ownClock !== input.ownClock) {
  throw new Error(`the provider's own clock is ${ownClock}, the frames say ${input.ownClock}`)
}

const socket = await connected
let heard = []
socket.on('message', (data) => {
  if (data[0] === 1) heard.push(Buffer.from(data).toString('base64'))
})

async function answer () {
  for (let waited = 0; heard.length === 0 && waited < 10000; waited += 10) await sleep(10)
  await sleep(200)
  const got = heard
  heard = []
  return got
}

if ((await answer()).length === 0) throw new Error('the provider never sent its own state')
const answers = []
for (const frame of input.frames) {
  socket.send(Buffer.from(frame, 'base64'))
  answers.push(await answer())
}
provider.destroy()
server.close()
console.log(JSON.stringify({ answers }))
process.exit(0)
