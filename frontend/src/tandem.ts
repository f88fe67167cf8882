/**
 * Tandem's opt-in protocol extension (docs/protocol.md, message type 100) and the save
 * bookkeeping built on it: "Saved" means the server committed every change this client made.
 */

import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

export const MESSAGE_SYNC = 0
export const MESSAGE_AUTH = 2
export const MESSAGE_TANDEM = 100

export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2

export const TANDEM_HELLO = 0
export const TANDEM_ACK = 1
export const TANDEM_UPDATE = 2
export const TANDEM_HEAD = 3

export type TandemFrame =
  { kind: 'ack'; seq: number } | { kind: 'update'; seq: number; update: Uint8Array } | { kind: 'head'; seq: number }

export function encodeHello(since: number): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_TANDEM)
  encoding.writeVarUint(encoder, TANDEM_HELLO)
  encoding.writeVarUint(encoder, since)
  return encoding.toUint8Array(encoder)
}

/** Read a type-100 frame whose message type has already been consumed from `decoder`. */
export function readTandemFrame(decoder: decoding.Decoder): TandemFrame | null {
  const subtype = decoding.readVarUint(decoder)
  switch (subtype) {
    case TANDEM_ACK:
      return { kind: 'ack', seq: decoding.readVarUint(decoder) }
    case TANDEM_UPDATE: {
      const seq = decoding.readVarUint(decoder)
      return { kind: 'update', seq, update: decoding.readVarUint8Array(decoder) }
    }
    case TANDEM_HEAD:
      return { kind: 'head', seq: decoding.readVarUint(decoder) }
    default:
      return null
  }
}

/** Whether an outgoing frame carries document changes the server will acknowledge. */
export function isWrite(frame: Uint8Array): boolean {
  if (frame.length < 2) return false
  const decoder = decoding.createDecoder(frame)
  if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return false
  const step = decoding.readVarUint(decoder)
  return step === SYNC_STEP2 || step === SYNC_UPDATE
}

/**
 * Counts writes and acknowledgements on the current connection, and remembers local changes
 * made while no connection could carry them.
 */
export class SaveTracker {
  /** Writes sent since the last hello. */
  sent = 0
  /** Acks received since the last hello. */
  acked = 0
  /** The highest sequence number seen, sent in the next hello. */
  seq = 0
  /** The server answered a hello (head or ack): it speaks the extension. */
  supported = false
  /** A hello was sent on the open connection. */
  open = false
  /** Local changes exist that no acknowledged write has carried yet. */
  unsent = false
  /** The write whose ack proves the unsent changes arrived (a sync step 2 carries them). */
  private flushAt: number | null = null

  hello(): Uint8Array {
    this.sent = 0
    this.acked = 0
    this.flushAt = null
    this.open = true
    return encodeHello(this.seq)
  }

  closed(): void {
    if (this.open && this.acked < this.sent) this.unsent = true
    this.open = false
    this.flushAt = null
  }

  localChange(): void {
    if (!this.open) this.unsent = true
  }

  wrote(frame: Uint8Array): void {
    if (!this.open || !isWrite(frame)) return
    this.sent++
    if (this.unsent && frame[1] === SYNC_STEP2) this.flushAt = this.sent
  }

  received(frame: TandemFrame): void {
    this.supported = true
    if (frame.seq > this.seq) this.seq = frame.seq
    if (frame.kind !== 'ack') return
    this.acked++
    if (this.flushAt !== null && this.acked >= this.flushAt) {
      this.unsent = false
      this.flushAt = null
    }
  }

  get pending(): number {
    return Math.max(0, this.sent - this.acked)
  }

  /** Every change this client made is committed on the server. */
  get saved(): boolean {
    return this.open && this.supported && this.pending === 0 && !this.unsent
  }
}
