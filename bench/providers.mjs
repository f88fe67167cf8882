// Real editor clients for the big-room and big-document workloads: y-websocket 3.1's
// WebsocketProvider (Tandem, the y-websocket server) or @hocuspocus/provider (Hocuspocus),
// awareness on, as an editor in a browser has them. bench/run.py starts one or several of
// these processes and drives them over stdin (bench/harness/editors.py).
//
// Usage: node bench/providers.mjs '<json config>'
//   bigroom: providers `from`..`to` (index 0 is the writer) of one document, or of each of
//     `docs` (fan-out with real editors: each room's editor 0 types). Prints
//     {"event": "synced"} once its providers have synced, then waits for a stdin line
//     `start <warmup s> <window s> <drain s>`: cursors move once a second from then on, the
//     writer types `rate` updates/s during the window, frames are counted during the window,
//     deliveries are timed until the drain ends. Last line: {"event": "result", ...}.
//   bigdoc: a writer pastes `size` characters in one insert while an observer watches, then
//     fresh providers make their first sync, `runs` times with the room loaded and, with
//     `cold`, `runs` times after printing {"event": "unload"} and reading a stdin line `go`.
//
// Every socket is a ws WebSocket wrapped to count what the provider sends and receives, by
// message type, and to time the writer's markers (`~0.<n>.<t>~`, t = process.hrtime in us,
// CLOCK_MONOTONIC, so comparable across processes) at the 'message' event, before the
// provider decodes the frame.
import { createInterface } from 'node:readline'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { WebsocketProvider } from 'y-websocket-provider'
import { HocuspocusProvider } from '@hocuspocus/provider'
import { config, emit, MARKER, nowUs, runWorkload, sleep } from './process.mjs'

const HOCUSPOCUS = config.style === 'hocuspocus'
const TYPES = { 0: 'sync', 1: 'awareness', 2: 'auth', 3: 'query_awareness' }

const stdinLines = (() => {
  const queue = []
  const waiters = []
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (waiters.length) waiters.shift()(line); else queue.push(line)
  })
  return () => queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve))
})()

// ---- counting sockets ---------------------------------------------------------------------

const counts = {
  measuring: false,
  sent: {}, // frames sent by all providers of this process, by message type
  received: {},
  awarenessEntriesSent: 0,
  awarenessEntriesReceived: 0,
  bytesReceived: 0
}

// The message type of a frame and, for awareness, how many client entries it carries.
function classify (data) {
  const u8 = data instanceof ArrayBuffer ? new Uint8Array(data) : data
  try {
    const d = decoding.createDecoder(u8)
    if (HOCUSPOCUS) decoding.readVarString(d)
    const type = decoding.readVarUint(d)
    let entries = 0
    if (type === 1) entries = decoding.readVarUint(decoding.createDecoder(decoding.readVarUint8Array(d)))
    return { u8, type: TYPES[type] ?? `type_${type}`, entries }
  } catch {
    return { u8, type: 'undecodable', entries: 0 }
  }
}

// onFrame(u8, type, tUs) is called for every frame received, before the provider sees it.
function tappedSocket (onFrame, sockets) {
  return class TappedWebSocket extends WebSocket {
    constructor (url, protocols) {
      super(url, protocols)
      this.closeCode = null
      sockets.push(this)
      this.addEventListener('message', (event) => {
        const t = nowUs()
        const { u8, type, entries } = classify(event.data)
        if (counts.measuring) {
          counts.received[type] = (counts.received[type] ?? 0) + 1
          counts.awarenessEntriesReceived += entries
          counts.bytesReceived += u8.length
        }
        onFrame(u8, type, t)
      })
      this.addEventListener('close', (event) => { this.closeCode = event.code })
    }

    send (data, ...rest) {
      if (counts.measuring) {
        const { type, entries } = classify(data)
        counts.sent[type] = (counts.sent[type] ?? 0) + 1
        counts.awarenessEntriesSent += entries
      }
      return super.send(data, ...rest)
    }
  }
}

// ---- one editor ---------------------------------------------------------------------------

class Editor {
  constructor (index, onFrame = () => {}, room = config.doc, roomIndex = 0) {
    this.index = index
    this.room = roomIndex
    this.doc = new Y.Doc()
    this.text = this.doc.getText('bench')
    this.sockets = []
    this.bytes = 0
    const Polyfill = tappedSocket((u8, type, t) => {
      this.bytes += u8.length
      onFrame(u8, type, t)
    }, this.sockets)
    if (HOCUSPOCUS) {
      this.provider = new HocuspocusProvider({
        url: config.base, name: room, document: this.doc, token: 'bench', WebSocketPolyfill: Polyfill
      })
      this.synced = new Promise((resolve) => this.provider.on('synced', resolve))
    } else {
      const url = config.style === 'tandem' ? `${config.base}/ws/documents` : config.base
      const params = config.style === 'tandem' ? { token: config.token } : {}
      this.provider = new WebsocketProvider(url, room, this.doc, {
        WebSocketPolyfill: Polyfill, params, disableBc: true
      })
      this.synced = new Promise((resolve) => {
        const onSync = (isSynced) => { if (isSynced) { this.provider.off('sync', onSync); resolve() } }
        this.provider.on('sync', onSync)
      })
    }
    this.awareness = this.provider.awareness
    this.awareness.setLocalStateField('user', { name: `bench-${index}`, color: `#${(index * 2654435761 % 0xffffff).toString(16).padStart(6, '0')}` })
  }

  moveCursor () {
    this.awareness.setLocalStateField('cursor', { anchor: Math.floor(Math.random() * 1000), head: Math.floor(Math.random() * 1000) })
  }

  closes () {
    return this.sockets.filter((s) => s.closeCode !== null).map((s) => s.closeCode)
  }

  destroy () {
    this.provider.destroy()
  }
}

async function withTimeout (promise, ms) {
  let timer
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), ms) })
  try { return await Promise.race([promise, timeout]) } finally { clearTimeout(timer) }
}

// ---- big room -----------------------------------------------------------------------------

async function bigroom () {
  // Several rooms (fan-out with real editors): `docs`, each with editors `from`..`to`; the
  // writer of room k (editor 0) types markers ~k.<n>.<t>~.
  const { from, to, rate, batch = 25 } = config
  const docs = config.docs ?? [config.doc]
  const lat = []
  const seen = new Map() // editor -> Set of marker numbers received
  let receiving = true
  const editors = []
  const t0 = Date.now()
  const specs = docs.flatMap((doc, k) => Array.from({ length: to - from }, (_, i) => [doc, k, from + i]))
  for (let i = 0; i < specs.length; i += batch) {
    const group = []
    for (const [doc, k, j] of specs.slice(i, i + batch)) {
      const got = new Set()
      const editor = new Editor(j, j === 0 ? undefined : (u8, type, t) => {
        if (type !== 'sync' || !receiving) return
        const s = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('latin1')
        MARKER.lastIndex = 0
        let m
        while ((m = MARKER.exec(s)) !== null) {
          const n = Number(m[2])
          if (got.has(n)) continue
          got.add(n)
          lat.push(Math.round((t - Number(m[3])) / 10) / 100)
        }
      }, doc, k)
      seen.set(editor, got)
      editors.push(editor)
      group.push(editor.synced)
    }
    await withTimeout(Promise.all(group), 60000)
  }
  const syncedAll = await withTimeout(Promise.all(editors.map((e) => e.synced)), 60000)
  emit({ event: 'synced', seconds: (Date.now() - t0) / 1000, all: syncedAll !== 'timeout' })

  const [, warmup, seconds, drain] = (await stdinLines()).split(' ').map(Number)
  const timers = editors.map((e) => setTimeout(() => {
    e.moveCursor()
    e.timer = setInterval(() => e.moveCursor(), 1000)
  }, Math.random() * 1000))
  await sleep(warmup * 1000)

  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const cpu0 = process.cpuUsage()
  const closesBefore = editors.reduce((n, e) => n + e.closes().length, 0)
  counts.measuring = true
  const start = nowUs()
  const writers = editors.filter((e) => e.index === 0)
  // Writers staggered over the first interval, so they do not all type on the same tick.
  const sentBy = writers.map(() => 0)
  while (nowUs() - start < seconds * 1e6) {
    writers.forEach((writer, w) => {
      const due = Math.floor(((nowUs() - start) / 1e6 + w / writers.length / rate) * rate)
      while (sentBy[w] < due) {
        sentBy[w] += 1
        writer.text.insert(writer.text.length, `~${writer.room}.${sentBy[w]}.${nowUs()}~`)
      }
    })
    await sleep(writers.length ? 5 : 100)
  }
  counts.measuring = false
  const windowS = (nowUs() - start) / 1e6
  const cpu = process.cpuUsage(cpu0)
  loop.disable()
  timers.forEach(clearTimeout)
  editors.forEach((e) => clearInterval(e.timer))
  await sleep(drain * 1000)
  receiving = false
  const readers = editors.filter((e) => e.index !== 0)
  const sentByDoc = {}
  writers.forEach((writer, w) => { sentByDoc[writer.room] = sentBy[w] })
  const readersByDoc = {}
  readers.forEach((e) => { readersByDoc[e.room] = (readersByDoc[e.room] ?? 0) + 1 })
  const result = {
    from,
    to,
    docs: docs.length,
    sent: sentBy.reduce((a, b) => a + b, 0),
    sent_by_doc: sentByDoc,
    readers: readers.length,
    readers_by_doc: readersByDoc,
    received: readers.reduce((n, e) => n + seen.get(e).size, 0),
    // Markers in each reader's document at the end (what the editor shows), for `converged`.
    markers_in_docs: readers.map((e) => [e.room, (e.text.toString().match(MARKER) ?? []).length]),
    latency_ms: lat,
    window_s: windowS,
    frames_sent: counts.sent,
    frames_received: counts.received,
    awareness_entries_sent: counts.awarenessEntriesSent,
    awareness_entries_received: counts.awarenessEntriesReceived,
    bytes_received: counts.bytesReceived,
    client_cpu_s: (cpu.user + cpu.system) / 1e6,
    event_loop_delay_ms: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    closes_during_window: editors.reduce((n, e) => n + e.closes().length, 0) - closesBefore,
    close_codes: [...new Set(editors.flatMap((e) => e.closes()))],
    connected_at_end: editors.filter((e) => e.sockets.at(-1)?.readyState === WebSocket.OPEN).length,
    extensions: editors[0]?.sockets[0]?.extensions ?? ''
  }
  editors.forEach((e) => e.destroy())
  return result
}

// ---- big document -------------------------------------------------------------------------

// A fresh editor's first sync: from creating the provider to holding all `size` characters.
async function firstSync (index, size) {
  const t0 = nowUs()
  const editor = new Editor(index)
  const ok = await withTimeout((async () => {
    await editor.synced
    while (editor.text.length < size) await sleep(2)
  })(), 300000)
  const ms = (nowUs() - t0) / 1000
  const run = { ms, ok: ok !== 'timeout', length: editor.text.length, bytes: editor.bytes, closes: editor.closes() }
  editor.destroy()
  await sleep(300)
  return run
}

async function bigdoc () {
  const { size, runs, cold } = config
  const observer = new Editor(1)
  const writer = new Editor(0)
  await withTimeout(Promise.all([observer.synced, writer.synced]), 60000)
  const chunk = 'abcdefghij'
  const t0 = nowUs()
  writer.text.insert(0, chunk.repeat(Math.ceil(size / chunk.length)).slice(0, size))
  const pasteLocalMs = (nowUs() - t0) / 1000
  const delivered = await withTimeout((async () => {
    while (observer.text.length < size) await sleep(2)
  })(), 300000)
  const pasteMs = (nowUs() - t0) / 1000
  emit({ event: 'pasted', ms: pasteMs, ok: delivered !== 'timeout' })
  const writerCloses = writer.closes()
  writer.destroy()
  await sleep(500)
  const warm = []
  for (let r = 0; r < runs; r++) warm.push(await firstSync(10 + r, size))
  const observerCloses = observer.closes()
  observer.destroy()
  const coldRuns = []
  if (cold) {
    for (let r = 0; r < runs; r++) {
      emit({ event: 'unload' })
      await stdinLines()
      coldRuns.push(await firstSync(100 + r, size))
    }
  }
  return {
    size,
    paste_local_ms: pasteLocalMs,
    paste_delivered_ms: pasteMs,
    paste_delivered: delivered !== 'timeout',
    observer_length: observer.text.length,
    writer_closes: writerCloses,
    observer_closes: observerCloses,
    warm,
    cold: coldRuns
  }
}

await runWorkload({ bigroom, bigdoc })
