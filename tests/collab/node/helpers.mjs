// What the scripts beside this one share: waiting for a condition, and a paragraph to insert.
import * as Y from 'yjs'

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Polls `check` every `every` ms until it holds (true) or `ms` ms have passed (false).
export const until = async (check, ms = Infinity, every = 50) => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) return false
    await sleep(every)
  }
  return true
}

// A `paragraph` element holding `text`, as the editor's schema writes one.
export function paragraph (text) {
  const p = new Y.XmlElement('paragraph')
  p.insert(0, [new Y.XmlText(text)])
  return p
}
