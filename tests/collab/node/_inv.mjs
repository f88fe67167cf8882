import * as Y from 'yjs'
import fs from 'fs'
const data = fs.readFileSync('/tmp/inv/updates.bin')
const doc = new Y.Doc()
let i = 0
while (i < data.length) { const n = data.readUInt32BE(i); Y.applyUpdate(doc, data.subarray(i+4, i+4+n)); i += 4+n }
fs.writeFileSync('/tmp/inv/yjs_state.bin', Y.encodeStateAsUpdate(doc))
const d2 = new Y.Doc(); Y.applyUpdate(d2, fs.readFileSync('/tmp/inv/yrs_full.bin'))
fs.writeFileSync('/tmp/inv/yjs_of_yrs_full.bin', Y.encodeStateAsUpdate(d2))
console.log('pending', doc.store.pendingStructs !== null, doc.store.pendingDs !== null)
