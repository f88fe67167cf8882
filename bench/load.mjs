// The load generator: light protocol-level Yjs clients that only count and time frames,
// writers that are real Y.Docs, and full Y.Doc clients where a workload needs state
// (catch-up). One process drives every server the same way; bench/run.py starts it
// (bench/harness/load.py).
//
// Usage: node bench/load.mjs '<json config>'   (fields: bench/harness/workloads.py, load.py)
// Output: JSON lines on stdout. {"event": "start"|"stop"|"connected"|"step", ...} mark the
// measured windows for the harness's /proc sampling; the last line is {"event": "result", ...}.
//
// Every edit inserts a marker `~<doc>.<n>.<t>~` where t is process.hrtime in microseconds
// at the writer's send (CLOCK_MONOTONIC); a receiver finds it in the raw frame bytes, so a
// delivery is timed from the writer's send to the receiver's 'message' event without
// decoding the Yjs update.
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { config, emit, MARKER, nowUs, runWorkload, sleep } from './process.mjs'

const STYLE = config.style // 'path' (y-websocket, relays), 'tandem', 'hocuspocus'

// ---- framing ------------------------------------------------------------------------------

function urlFor (base, doc) {
  if (STYLE === 'tandem') return `${base}/ws/documents/${doc}?token=${config.token}`
  if (STYLE === 'hocuspocus') return base
  return `${base}/${doc}`
}

function frame (doc, write) {
  const enc = encoding.createEncoder()
  if (STYLE === 'hocuspocus') encoding.writeVarString(enc, doc)
  write(enc)
  return encoding.toUint8Array(enc)
}

const syncStep1 = (doc, sv) => frame(doc, (e) => {
  encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, sv)
})
const syncStep2 = (doc, update) => frame(doc, (e) => {
  encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, update)
})
const syncUpdate = (doc, update) => frame(doc, (e) => {
  encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 2); encoding.writeVarUint8Array(e, update)
})
const hocuspocusAuth = (doc) => frame(doc, (e) => {
  encoding.writeVarUint(e, 2); encoding.writeVarUint(e, 0); encoding.writeVarString(e, 'bench')
})
const tandemHello = (since) => frame('', (e) => {
  encoding.writeVarUint(e, 100); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, since)
})
const EMPTY_SV = Y.encodeStateVector(new Y.Doc())

// ---- one connection -----------------------------------------------------------------------

class Conn {
  // onUpdate(buf, nowUs) for every sync update frame; ydoc: apply step 2 and updates to it.
  // hello: send Tandem's hello with this `since`; replayOnly: skip the state-vector step 1.
  constructor (base, doc, { ydoc = null, onUpdate = null, hello = null, replayOnly = false } = {}) {
    this.doc = doc
    this.ydoc = ydoc
    this.onUpdate = onUpdate
    this.hello = hello
    this.bytes = 0
    this.synced = false
    this.head = null
    this.closed = false
    this.syncedWaiters = []
    this.ws = new WebSocket(urlFor(base, doc), { perMessageDeflate: false })
    this.ws.binaryType = 'nodebuffer'
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve)
      this.ws.once('error', reject)
    })
    this.ws.on('error', () => {})
    this.ws.on('close', (code) => { this.closed = true; this.closeCode = code })
    this.ws.on('open', () => {
      if (STYLE === 'hocuspocus') this.ws.send(hocuspocusAuth(doc))
      if (hello !== null) this.ws.send(tandemHello(hello))
      // A replay from `since` replaces the state-vector exchange (Tandem's extension).
      if (!replayOnly) this.ws.send(syncStep1(doc, ydoc ? Y.encodeStateVector(ydoc) : EMPTY_SV))
    })
    this.ws.on('message', (data) => this.receive(data))
  }

  receive (buf) {
    const t = nowUs()
    this.bytes += buf.length
    let off = 0
    if (STYLE === 'hocuspocus') {
      const d = decoding.createDecoder(buf)
      decoding.readVarString(d)
      off = d.pos
    }
    const type = buf[off]
    if (type === 0) {
      const sub = buf[off + 1]
      if (sub === 2) {
        if (this.ydoc) this.apply(buf, off + 2)
        if (this.onUpdate) this.onUpdate(buf, t)
      } else if (sub === 1) {
        if (this.ydoc) this.apply(buf, off + 2)
        this.markSynced()
      } else if (sub === 0 && this.ydoc && STYLE !== 'hocuspocus') {
        // Answer the server's step 1 like a real provider (hocuspocus does not need it).
        const d = decoding.createDecoder(buf.subarray(off + 2))
        const sv = decoding.readVarUint8Array(d)
        this.ws.send(syncStep2(this.doc, Y.encodeStateAsUpdate(this.ydoc, sv)))
      }
    } else if (type === 100) {
      const d = decoding.createDecoder(buf.subarray(off + 1))
      const sub = decoding.readVarUint(d)
      if (sub === 2) {
        decoding.readVarUint(d)
        if (this.ydoc) Y.applyUpdate(this.ydoc, decoding.readVarUint8Array(d))
      } else if (sub === 3) {
        this.head = decoding.readVarUint(d)
        this.markSynced()
      }
    }
  }

  apply (buf, at) {
    const d = decoding.createDecoder(buf.subarray(at))
    Y.applyUpdate(this.ydoc, decoding.readVarUint8Array(d))
  }

  markSynced () {
    if (this.hello !== null && this.head === null) return // wait for the tandem head
    if (!this.synced) {
      this.synced = true
      for (const resolve of this.syncedWaiters) resolve()
    }
  }

  whenSynced () {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.syncedWaiters.push(resolve))
  }

  sendUpdate (update) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(syncUpdate(this.doc, update))
  }

  close () {
    try { this.ws.close() } catch {}
  }
}

async function withTimeout (promise, ms, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  try { return await Promise.race([promise, timeout]) } finally { clearTimeout(timer) }
}

// Open connections `concurrency` at a time; each counts as open once synced. The first
// connection of each room opens before the others: pycrdt-websocket 0.16.5 can create a
// room twice when its first clients arrive together (the second copy never answers).
async function openAll (specs, concurrency = 64, timeoutMs = 120000) {
  const conns = new Array(specs.length)
  const seen = new Set()
  const firsts = []
  const rest = []
  specs.forEach((spec, i) => {
    const key = `${spec.base} ${spec.doc}`
    if (seen.has(key)) rest.push(i); else { seen.add(key); firsts.push(i) }
  })
  const t0 = Date.now()
  async function phase (order) {
    let next = 0
    async function worker () {
      while (next < order.length) {
        const i = order[next++]
        const { base, doc, options } = specs[i]
        const conn = new Conn(base, doc, options)
        conns[i] = conn
        await withTimeout(conn.opened.then(() => conn.whenSynced()), 30000, `connection ${i}`)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
  }
  await withTimeout(phase(firsts).then(() => phase(rest)), timeoutMs, 'connecting')
  return { conns, seconds: (Date.now() - t0) / 1000 }
}

// ---- writers and receivers ----------------------------------------------------------------

class Writer {
  constructor (base, doc, index) {
    this.index = index
    this.ydoc = new Y.Doc()
    this.text = this.ydoc.getText('bench')
    this.sent = 0
    this.conn = new Conn(base, doc, {})
    this.ydoc.on('update', (update) => this.conn.sendUpdate(update))
  }

  write () {
    this.sent += 1
    this.text.insert(this.text.length, `~${this.index}.${this.sent}.${nowUs()}~`)
  }
}

class Stats {
  constructor () { this.reset() }
  reset () { this.lat = []; this.received = 0; this.measuring = true }
  onUpdate (buf, t) {
    if (!this.measuring) return
    const s = buf.toString('latin1')
    MARKER.lastIndex = 0
    let m
    while ((m = MARKER.exec(s)) !== null) {
      this.received += 1
      this.lat.push((t - Number(m[3])) / 1000)
    }
  }
}

function summarize (lat) {
  if (lat.length === 0) return { p50: null, p99: null, max: null, mean: null }
  const sorted = Float64Array.from(lat).sort()
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
  let sum = 0
  for (const v of sorted) sum += v
  return { p50: q(0.5), p99: q(0.99), max: sorted[sorted.length - 1], mean: sum / sorted.length }
}

// Open-loop pacing: every tick each writer sends what its rate says is due by now.
async function drive (writers, ratePerWriter, seconds) {
  const start = nowUs()
  const end = start + seconds * 1e6
  const base = writers.map((w) => w.sent)
  // Stagger writers across the first interval so they do not all fire on the same tick.
  const phase = writers.map((_, i) => (i / writers.length) / ratePerWriter * 1e6)
  while (true) {
    const now = nowUs()
    if (now >= end) break
    for (let i = 0; i < writers.length; i++) {
      const due = Math.floor(((now - start + phase[i]) / 1e6) * ratePerWriter)
      while (writers[i].sent - base[i] < due) writers[i].write()
    }
    await sleep(2)
  }
  return writers.reduce((n, w, i) => n + (w.sent - base[i]), 0)
}

// The specs of a room: one writer and `readers` light receivers, the receivers spread over
// `bases` (replicas) round-robin, the writer on the last base; with `config.placement`
// (document affinity: room i's replica index) every client of room i on that one replica.
const homeOf = (i) => config.placement ? config.bases[config.placement[i]] : null

function roomSpecs (docs, readers, stats) {
  const bases = config.bases
  const specs = []
  docs.forEach((doc, i) => {
    for (let r = 0; r < readers; r++) {
      specs.push({ base: homeOf(i) ?? bases[r % bases.length], doc, options: { onUpdate: (b, t) => stats.onUpdate(b, t) } })
    }
  })
  return specs
}

async function openWriters (docs) {
  const bases = config.bases
  const writers = docs.map((doc, i) => new Writer(homeOf(i) ?? bases[bases.length - 1], doc, i))
  await Promise.all(writers.map((w) => withTimeout(w.conn.opened.then(() => w.conn.whenSynced()), 30000, 'writer')))
  return writers
}

// ---- workloads ----------------------------------------------------------------------------

async function fanout () {
  const { docs, readers, rate, seconds, drain = 2 } = config
  const stats = new Stats()
  stats.measuring = false
  const { conns, seconds: connectSeconds } = await openAll(roomSpecs(docs, readers, stats))
  const writers = await openWriters(docs)
  await sleep(500)
  stats.reset()
  emit({ event: 'start' })
  const sent = await drive(writers, rate, seconds)
  emit({ event: 'stop' })
  await sleep(drain * 1000)
  stats.measuring = false
  const expected = sent * readers
  const closed = conns.filter((c) => c.closed).length
  for (const c of [...conns, ...writers.map((w) => w.conn)]) c.close()
  return {
    connections: conns.length + writers.length,
    connect_seconds: connectSeconds,
    sent,
    expected,
    received: stats.received,
    lost: Math.max(0, expected - stats.received),
    closed_during_run: closed,
    latency_ms: summarize(stats.lat)
  }
}

async function saturate () {
  const { docs, readers, seconds, drain = 1, p99LimitMs = 100 } = config
  const rates = [...config.rates]
  const stats = new Stats()
  stats.measuring = false
  const { conns } = await openAll(roomSpecs(docs, readers, stats))
  const writers = await openWriters(docs)
  await sleep(500)
  const steps = []
  for (const total of rates) {
    stats.reset()
    emit({ event: 'start', rate: total })
    const sent = await drive(writers, total / docs.length, seconds)
    emit({ event: 'stop', rate: total })
    await sleep(drain * 1000)
    stats.measuring = false
    const expected = sent * readers
    const step = {
      rate: total,
      sent,
      sent_per_s: sent / seconds,
      expected,
      received: stats.received,
      lost: Math.max(0, expected - stats.received),
      latency_ms: summarize(stats.lat)
    }
    step.ok = step.lost === 0 && step.latency_ms.p99 !== null && step.latency_ms.p99 <= p99LimitMs &&
      conns.every((c) => !c.closed)
    step.attempt = (steps.length && steps[steps.length - 1].rate === total) ? 2 : 1
    emit({ event: 'step', ...step })
    steps.push(step)
    await sleep(300)
    // A shared machine stalls now and then: a failed rate gets one more try before it counts.
    if (!step.ok && step.attempt === 1 && step.lost === 0) { rates.splice(rates.indexOf(total) + 1, 0, total); continue }
    if (!step.ok) break
  }
  for (const c of [...conns, ...writers.map((w) => w.conn)]) c.close()
  const passed = steps.filter((s) => s.ok)
  // The highest rate that passed with every lower rate passing too.
  const failedRates = new Set(steps.filter((s) => !s.ok && !steps.some((t) => t.ok && t.rate === s.rate)).map((s) => s.rate))
  passed.splice(0, passed.length, ...passed.filter((s) => [...failedRates].every((f) => s.rate < f)))
  const best = passed.length ? passed[passed.length - 1] : null
  return {
    steps,
    max_ok_rate: best ? best.rate : 0,
    max_ok_sent_per_s: best ? best.sent_per_s : 0,
    max_ok_deliveries_per_s: best ? best.received / seconds : 0
  }
}

async function idle () {
  const { docs, connections, hold = 3 } = config
  const specs = []
  for (let i = 0; i < connections; i++) {
    specs.push({ base: config.bases[i % config.bases.length], doc: docs[i % docs.length], options: {} })
  }
  const { conns, seconds } = await openAll(specs, 100, 600000)
  emit({ event: 'connected', seconds })
  await sleep(hold * 1000)
  const open = conns.filter((c) => !c.closed).length
  for (const c of conns) c.close()
  return { connections, open_at_end: open, connect_seconds: seconds }
}

async function catchup () {
  // `clients` away clients sync once and leave; one writer then sends `updates` updates
  // (an observer that stays connected tells when the server has relayed them all); then
  // each away client comes back, one at a time (to the other replica when there are two).
  const { doc, updates, rate, clients = 3, helloModes = [false] } = config
  const [first, second] = [config.bases[0], config.bases[config.bases.length - 1]]
  const away = []
  for (let i = 0; i < clients; i++) {
    for (const hello of helloModes) {
      const ydoc = new Y.Doc()
      const c1 = new Conn(first, doc, { ydoc, hello: hello ? 0 : null })
      await withTimeout(c1.opened.then(() => c1.whenSynced()), 30000, 'first sync')
      away.push({ ydoc, hello, since: c1.head })
      c1.close()
    }
  }
  const stats = new Stats()
  const observer = new Conn(first, doc, { onUpdate: (b, t) => stats.onUpdate(b, t) })
  await withTimeout(observer.opened.then(() => observer.whenSynced()), 30000, 'observer')
  const [writer] = await openWriters([doc])
  const t0 = nowUs()
  await drive([writer], rate, updates / rate)
  while (writer.sent < updates) writer.write()
  await withTimeout((async () => { while (stats.received < updates) await sleep(20) })(), 150000,
    `observer saw ${stats.received} of ${updates} (writer ${writer.conn.closed ? 'closed with ' + writer.conn.closeCode : 'open'}, observer ${observer.closed ? 'closed with ' + observer.closeCode : 'open'})`)
  const writeSeconds = (nowUs() - t0) / 1e6
  const want = writer.text.toString()
  const results = []
  for (const a of away) {
    const t1 = nowUs()
    const c2 = new Conn(second, doc, { ydoc: a.ydoc, hello: a.hello ? a.since : null, replayOnly: a.hello })
    await withTimeout(c2.opened.then(() => c2.whenSynced()), 60000, 'catch-up')
    await withTimeout((async () => {
      while (a.ydoc.getText('bench').length !== want.length) await sleep(1)
    })(), 60000, 'catch-up content')
    const ms = (nowUs() - t1) / 1000
    results.push({ hello: a.hello, catchup_ms: ms, bytes: c2.bytes, converged: a.ydoc.getText('bench').toString() === want })
    c2.close()
    await sleep(200)
  }
  for (const c of [observer, writer.conn]) c.close()
  return { updates: writer.sent, write_seconds: writeSeconds, accepted_per_s: writer.sent / writeSeconds, clients: results }
}

async function cold () {
  const t0 = nowUs()
  const conn = new Conn(config.bases[0], config.doc, {})
  await withTimeout(conn.opened.then(() => conn.whenSynced()), 120000, 'cold load')
  const ms = (nowUs() - t0) / 1000
  const bytes = conn.bytes
  conn.close()
  return { load_ms: ms, bytes }
}

await runWorkload({ fanout, saturate, idle, catchup, cold })
