// Rich text written and read back by real y-websocket WebsocketProviders: Yjs is the judge of
// what a document holds.
// Usage: WS_URL=ws://host/ws/documents DOC_IDS=<id>,<id>... TOKEN=<jwt> MODE=<mode> node rich_text.mjs
// MODE=write: writes into the `default` XmlFragment of each document as TipTap stores it
//   (elements named after the node types, marks as format attributes such as {bold: {}}), in
//   several transactions as a person types, selects and formats; a second provider (WATCH_TOKEN)
//   waits until it holds the same, so everything written is committed. CONTENT=emoji writes the
//   paragraph of issue 16 (the two emoji in bold); CONTENT=random writes random blocks from
//   SEED (document k of DOC_IDS from seed SEED * 1000 + k): headings, lists, quotes, code,
//   line breaks; astral characters, ZWJ sequences, combining marks, right-to-left text, nested
//   marks and links.
// MODE=read: a fresh provider per document waits (up to 5 s) until it holds what EXPECT_FILE
//   says (JSON {id: tree}), as it may sync before its room applied a REST write.
// Prints one JSON line {docs: {id: {tree, xml}}}: `tree` is the fragment as plain data (elements
// {tag, attrs, children}, texts {delta}: Yjs's toDelta with adjacent equal runs joined), `xml`
// the fragment's own toString(). Exits 1 on timeout.
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { until as untilWithin } from './helpers.mjs'

const { WS_URL, DOC_IDS, TOKEN, WATCH_TOKEN, MODE, CONTENT, SEED, EXPECT_FILE } = process.env
const sides = []
const deadline = setTimeout(() => {
  const stuck = sides.map((s) => ({ id: s.id, synced: s.provider.synced, closes: s.closes, xml: s.body.toString() }))
  console.error('timed out', JSON.stringify(stuck))
  process.exit(1)
}, 60000)
const until = (check, ms = Infinity) => untilWithin(check, ms, 20)

function open (id, token) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(WS_URL, id, doc, {
    WebSocketPolyfill: WebSocket, params: { token }, disableBc: true
  })
  const side = { id, doc, provider, body: doc.getXmlFragment('default'), closes: [] }
  provider.on('connection-close', (event) => side.closes.push([event?.code, event?.reason]))
  sides.push(side)
  return side
}

// The tree of a fragment or element's children, as plain data.
function tree (parent) {
  return parent.toArray().map((node) => node instanceof Y.XmlText
    ? { delta: joinRuns(node.toDelta()) }
    : { tag: node.nodeName, attrs: node.getAttributes(), children: tree(node) })
}

// toDelta starts a new run at every format item, even one that changes nothing.
function joinRuns (delta) {
  const runs = []
  for (const op of delta) {
    const last = runs[runs.length - 1]
    if (last && typeof op.insert === 'string' && typeof last.insert === 'string' &&
        canonical(last.attributes ?? {}) === canonical(op.attributes ?? {})) {
      last.insert += op.insert
    } else {
      runs.push({ ...op })
    }
  }
  return runs
}

// JSON with sorted keys: equal data gives equal strings.
function canonical (value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}

// --- what a person writes -------------------------------------------------------------------

const ISSUE_16 = 'Emoji 👩‍💻🚀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, 漢字かな, é café'

function writeIssue16 (side) {
  const paragraph = new Y.XmlElement('paragraph')
  const text = new Y.XmlText()
  paragraph.insert(0, [text])
  side.body.insert(0, [paragraph])
  text.insert(0, ISSUE_16) // typed (pasted) ...
  text.format('Emoji '.length, '👩‍💻🚀'.length, { bold: {} }) // ... then the emoji made bold
}

// mulberry32: a small seeded generator, so a failing seed can be run again.
function generator (seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { below: (n) => Math.floor(next() * n), pick: (list) => list[Math.floor(next() * list.length)] }
}

const PIECES = [
  'word', ' ', ', ', 'x', 'Emoji ', '👩‍💻', '🚀', '👨‍👩‍👧‍👦', '👍🏽', '🇫🇷', '❤️', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝟙𝟚',
  '漢字かな', '한국어', 'é', 'e\u0301', 'a\u0300\u0323', 'café', 'שלום עולם', 'مرحبا بالعالم',
  '\u200f', '\u200d', 'ﷺ', '<b>&amp;', '"quoted"', '\t'
]
const MARKS = [
  () => ({ bold: {} }), () => ({ italic: {} }), () => ({ strike: {} }), () => ({ code: {} }),
  (rng) => ({
    link: { href: `https://example.com/${rng.below(100)}?q=é`, target: '_blank', rel: 'noopener noreferrer nofollow', class: null }
  })
]
const UNMARK = [{ bold: null }, { italic: null }, { link: null }]

function randomText (rng, pieces) {
  return Array.from({ length: pieces }, () => rng.pick(PIECES)).join('')
}

// An XmlText's characters (its toString() is XML, marks as tags).
const plain = (text) => text.toDelta().map((op) => op.insert).join('')

// UTF-16 offsets of the code point boundaries of a string: where a person's cursor can be.
function boundaries (string) {
  const offsets = [0]
  for (const character of string) offsets.push(offsets[offsets.length - 1] + character.length)
  return offsets
}

// Edits one text in separate transactions: typing, pasting with marks, formatting a selection
// (marks nest), removing a mark, deleting a selection.
function edit (doc, text, rng, steps, marks = true) {
  for (let step = 0; step < steps; step++) {
    doc.transact(() => {
      const at = boundaries(plain(text))
      const a = rng.pick(at)
      const b = rng.pick(at)
      const [from, to] = a <= b ? [a, b] : [b, a]
      const action = marks ? rng.below(6) : rng.below(3)
      if (action <= 1 || at.length < 3) text.insert(a, randomText(rng, 1 + rng.below(4)))
      else if (action === 2) text.delete(from, Math.min(to, at[at.indexOf(from) + 3] ?? to) - from)
      else if (action === 3) text.insert(a, randomText(rng, 1 + rng.below(3)), rng.pick(MARKS)(rng))
      else if (action === 4 && to > from) text.format(from, to - from, rng.pick(MARKS)(rng))
      else if (to > from) text.format(from, to - from, rng.pick(UNMARK))
    })
  }
}

// A block of TipTap's schema, with its texts still empty; returns [element, texts, marks allowed].
function block (rng) {
  const paragraph = () => {
    const p = new Y.XmlElement('paragraph')
    const text = new Y.XmlText()
    p.insert(0, [text])
    return [p, [text]]
  }
  const kind = rng.below(8)
  if (kind === 0) {
    const h = new Y.XmlElement('heading')
    h.setAttribute('level', 1 + rng.below(3))
    const text = new Y.XmlText()
    h.insert(0, [text])
    return [h, [text], true]
  }
  if (kind === 1 || kind === 2) {
    const list = new Y.XmlElement(kind === 1 ? 'bulletList' : 'orderedList')
    if (kind === 2) list.setAttribute('start', 1)
    const texts = []
    for (let i = 0; i < 1 + rng.below(3); i++) {
      const item = new Y.XmlElement('listItem')
      const [p, [text]] = paragraph()
      item.insert(0, [p])
      list.insert(i, [item])
      texts.push(text)
    }
    return [list, texts, true]
  }
  if (kind === 3) {
    const quote = new Y.XmlElement('blockquote')
    const [p, texts] = paragraph()
    quote.insert(0, [p])
    return [quote, texts, true]
  }
  if (kind === 4) {
    const code = new Y.XmlElement('codeBlock')
    const text = new Y.XmlText()
    code.insert(0, [text])
    return [code, [text], false]
  }
  if (kind === 5) { // a line break inside a paragraph: text, hardBreak, text
    const p = new Y.XmlElement('paragraph')
    const before = new Y.XmlText()
    const after = new Y.XmlText()
    p.insert(0, [before, new Y.XmlElement('hardBreak'), after])
    return [p, [before, after], true]
  }
  if (kind === 6 && rng.below(2)) return [new Y.XmlElement('paragraph'), [], true] // empty line
  const [p, texts] = paragraph()
  return [p, texts, true]
}

function writeRandom (side, rng) {
  const blocks = Array.from({ length: 2 + rng.below(5) }, () => block(rng))
  side.body.insert(0, blocks.map(([element]) => element))
  for (const [, texts, marks] of blocks) {
    for (const text of texts) edit(side.doc, text, rng, 2 + rng.below(8), marks)
  }
}

// --- the run ----------------------------------------------------------------------------------

const ids = DOC_IDS.split(',')
const out = {}
if (MODE === 'write') {
  const pairs = ids.map((id) => [open(id, TOKEN), open(id, WATCH_TOKEN)])
  await until(() => pairs.every(([a, b]) => a.provider.synced && b.provider.synced))
  pairs.forEach(([writer], k) => {
    if (CONTENT === 'emoji') writeIssue16(writer)
    else writeRandom(writer, generator(Number(SEED) * 1000 + k))
  })
  // The watcher hears of an update only after the server committed it.
  await until(() => pairs.every(([a, b]) => canonical(tree(a.body)) === canonical(tree(b.body))))
  pairs.forEach(([writer], k) => { out[ids[k]] = { tree: tree(writer.body), xml: writer.body.toString() } })
  for (const [a, b] of pairs) { a.provider.destroy(); b.provider.destroy() }
} else {
  const expected = JSON.parse(readFileSync(EXPECT_FILE, 'utf8'))
  const readers = ids.map((id) => open(id, TOKEN))
  await until(() => readers.every((r) => r.provider.synced))
  await until(() => readers.every((r, k) => canonical(tree(r.body)) === canonical(expected[ids[k]])), 5000)
  readers.forEach((reader, k) => { out[ids[k]] = { tree: tree(reader.body), xml: reader.body.toString() } })
  for (const reader of readers) reader.provider.destroy()
}
console.log(JSON.stringify({ docs: out }))
clearTimeout(deadline)
process.exit(0)
