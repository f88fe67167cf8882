// The judge of the convergence fuzz, in Yjs alone: no Tandem code reads anything here.
// Usage: JUDGE_INPUT=<file> node yjs_judge.mjs, the file holding
//   { "runs": [{ "seed": 1, "head": 42 (the document's last seq),
//                "rows": [[seq, "<base64 update>"], ...] (the stored log, every row),
//                "snapshots": [[seq, "<base64 state>"], ...] (the stored snapshots),
//                "clients": ["<base64 Y.encodeStateAsUpdate of a client>", ...] }, ...] }
// Per run, the stored rows are applied with Y.applyUpdate, in sequence order, onto a fresh
// Y.Doc: the database's document. Every client must hold the same content (the XmlFragment
// `default` as XML, formatting included) and the same Yjs snapshot (state vector and delete
// set); nothing of the log may stay pending (an update whose dependencies are missing); the
// sequence numbers run from 1 without a gap; each snapshot equals the log replayed to its seq.
// Prints one JSON line: { runs: [{ seed, ok, rows, content, vector, problems: [...] }] }.
import { readFileSync } from 'node:fs'
import * as Y from 'yjs'

const input = JSON.parse(readFileSync(process.env.JUDGE_INPUT, 'utf8'))
const bytes = (base64) => new Uint8Array(Buffer.from(base64, 'base64'))
const vector = (doc) => Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(doc)))
const content = (doc) => doc.getXmlFragment('default').toString()
const pending = (doc) => doc.store.pendingStructs !== null || doc.store.pendingDs !== null

// A fresh Y.Doc holding `updates` (base64), applied in order, and nothing else. After a
// remote transaction Yjs cleans up redundant formatting marks (an editor's document does),
// deleting them in a change of its own: the judge's document would then hold deletions that
// nobody stored. The flag that asks for it (private, 13.6) is cleared before it is read; a
// change the document makes to itself is still caught, as `changedItself`.
function replay (updates) {
  const doc = new Y.Doc()
  doc.changedItself = false
  doc.on('afterTransaction', (transaction) => {
    transaction._needFormattingCleanup = false
    if (transaction.local) doc.changedItself = true
  })
  for (const update of updates) Y.applyUpdate(doc, bytes(update))
  return doc
}

// What differs between `doc` and the database's document (`expected`), if anything.
function differences (doc, expected) {
  const found = []
  if (content(doc) !== content(expected)) found.push(`content ${JSON.stringify(content(doc))}`)
  const [a, b] = [vector(doc), vector(expected)]
  if (JSON.stringify(a, Object.keys(a).sort()) !== JSON.stringify(b, Object.keys(b).sort())) {
    found.push(`state vector ${JSON.stringify(a)}`)
  } else if (!Y.equalSnapshots(Y.snapshot(doc), Y.snapshot(expected))) {
    found.push('same state vector, other deletions')
  }
  return found
}

function judge ({ seed, head, rows, snapshots = [], clients }) {
  const problems = []
  if (head !== undefined && head !== rows.length) problems.push(`head ${head}, ${rows.length} rows`)
  rows.forEach(([seq], i) => { if (seq !== i + 1) problems.push(`row ${i + 1} has seq ${seq}`) })
  const stored = replay(rows.map(([, update]) => update))
  if (pending(stored)) problems.push('the stored log leaves updates pending: a row is missing')
  if (stored.changedItself) problems.push('the judge\'s document changed itself (a Yjs upgrade?)')
  clients.forEach((state, i) => {
    const found = differences(replay([state]), stored)
    if (found.length) problems.push(`client ${i}: ${found.join('; ')}`)
  })
  for (const [seq, state] of snapshots) {
    const upto = replay(rows.filter(([row]) => row <= seq).map(([, update]) => update))
    const found = differences(replay([state]), upto)
    if (found.length) problems.push(`snapshot at ${seq} vs the log replayed to ${seq}: ${found.join('; ')}`)
  }
  return { seed, ok: problems.length === 0, rows: rows.length, content: content(stored), vector: vector(stored), problems }
}

console.log(JSON.stringify({ runs: input.runs.map(judge) }))
