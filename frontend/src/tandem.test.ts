import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'

import { encodeHello, isWrite, MESSAGE_TANDEM, readTandemFrame, SaveTracker, type TandemFrame } from './tandem'

function frame(...parts: (number | Uint8Array)[]): decoding.Decoder {
  const encoder = encoding.createEncoder()
  for (const part of parts) {
    if (typeof part === 'number') encoding.writeVarUint(encoder, part)
    else encoding.writeVarUint8Array(encoder, part)
  }
  const decoder = decoding.createDecoder(encoding.toUint8Array(encoder))
  expect(decoding.readVarUint(decoder)).toBe(MESSAGE_TANDEM)
  return decoder
}

function syncFrame(write: (encoder: encoding.Encoder, doc: Y.Doc) => void): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, 'hi')
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  write(encoder, doc)
  return encoding.toUint8Array(encoder)
}

const step1 = syncFrame((e, d) => syncProtocol.writeSyncStep1(e, d))
const step2 = syncFrame((e, d) => syncProtocol.writeSyncStep2(e, d))
const update = syncFrame((e, d) => syncProtocol.writeUpdate(e, Y.encodeStateAsUpdate(d)))
const ack = (seq: number): TandemFrame => ({ kind: 'ack', seq })

describe('tandem frames', () => {
  it('encodes hello as type 100, subtype 0, since', () => {
    expect([...encodeHello(0)]).toEqual([100, 0, 0])
    expect([...encodeHello(300)]).toEqual([100, 0, 0xac, 0x02])
  })

  it('reads ack, update and head frames', () => {
    expect(readTandemFrame(frame(100, 1, 7))).toEqual({ kind: 'ack', seq: 7 })
    expect(readTandemFrame(frame(100, 3, 1000))).toEqual({ kind: 'head', seq: 1000 })
    const body = new Uint8Array([1, 2, 3])
    expect(readTandemFrame(frame(100, 2, 9, body))).toEqual({ kind: 'update', seq: 9, update: body })
    expect(readTandemFrame(frame(100, 42))).toBeNull()
  })

  it('counts sync step 2 and update frames as writes, not step 1 or awareness', () => {
    expect(isWrite(step2)).toBe(true)
    expect(isWrite(update)).toBe(true)
    expect(isWrite(step1)).toBe(false)
    expect(isWrite(new Uint8Array([1, 5, 1, 2, 3, 4, 5]))).toBe(false)
    expect(isWrite(encodeHello(0))).toBe(false)
  })
})

describe('SaveTracker', () => {
  it('is saved only once every write since the hello is acknowledged', () => {
    const t = new SaveTracker()
    t.hello()
    t.received({ kind: 'head', seq: 4 })
    expect(t.saved).toBe(true)
    t.wrote(update)
    t.wrote(update)
    expect(t.saved).toBe(false)
    expect(t.pending).toBe(2)
    t.received(ack(5))
    expect(t.saved).toBe(false)
    t.received(ack(6))
    expect(t.saved).toBe(true)
    expect(t.seq).toBe(6)
  })

  it('never claims saved for a server that does not speak the extension', () => {
    const t = new SaveTracker()
    t.hello()
    expect(t.saved).toBe(false)
  })

  it('keeps offline edits unsaved until the step 2 that carries them is acknowledged', () => {
    const t = new SaveTracker()
    t.hello()
    t.received({ kind: 'head', seq: 10 })
    t.wrote(update)
    t.closed() // the write was never acknowledged
    t.localChange() // typing offline
    expect(t.unsent).toBe(true)
    expect(t.saved).toBe(false)

    const hello = t.hello()
    expect([...hello]).toEqual([100, 0, 10]) // resumes from the highest seq seen
    t.received({ kind: 'head', seq: 12 })
    t.wrote(step2) // the reply to the server's step 1 carries the offline edits
    expect(t.saved).toBe(false)
    t.received(ack(13))
    expect(t.unsent).toBe(false)
    expect(t.saved).toBe(true)
  })

  it('ignores frames sent before the hello and is not saved while closed', () => {
    const t = new SaveTracker()
    t.wrote(update)
    expect(t.sent).toBe(0)
    t.hello()
    t.received({ kind: 'head', seq: 1 })
    t.closed()
    expect(t.saved).toBe(false)
  })
})
