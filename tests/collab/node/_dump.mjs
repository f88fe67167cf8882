import * as Y from 'yjs'
import fs from 'fs'
const u = fs.readFileSync(process.argv[2])
const { structs, ds } = Y.decodeUpdate(u)
const id = x => x ? `${x.client % 10000}:${x.clock}` : '-'
for (const s of structs) {
  const c = s.content
  let desc = s.constructor.name
  if (c) desc += ' ' + c.constructor.name + ' ' + JSON.stringify(c.str ?? c.key ?? c.type?.nodeName ?? c.len ?? '') + (c.value !== undefined ? JSON.stringify(c.value) : '')
  console.log(`${id(s.id)} len=${s.length} o=${id(s.origin)} ro=${id(s.rightOrigin)} p=${typeof s.parent === 'string' ? s.parent : id(s.parent)} ${desc}`)
}
const out = []
ds.clients.forEach((items, client) => items.forEach(it => out.push(`${client % 10000}:${it.clock}+${it.len}`)))
console.log('DS', out.join(' '))
