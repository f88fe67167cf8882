import { describe, expect, it } from 'vitest'

import { describeStatus, formatBytes, tooLargeFrom, type StatusFacts } from './status'

const base: StatusFacts = {
  link: 'connected',
  synced: true,
  everConnected: true,
  online: true,
  readOnly: false,
  supported: true,
  pending: 0,
  unsent: false,
  tooLarge: null,
}
const label = (facts: Partial<StatusFacts>): string => describeStatus({ ...base, ...facts }).label

describe('describeStatus', () => {
  it('says Saved only when connected, synced, acknowledged and nothing is unsent', () => {
    expect(label({})).toBe('Saved')
    expect(label({ pending: 1 })).toBe('Saving…')
    expect(label({ unsent: true })).toBe('Saving…')
    expect(label({ synced: false })).toBe('Reconnecting…')
    expect(label({ supported: false })).toBe('Connected')
  })

  it('tells connecting, reconnecting and offline apart', () => {
    expect(label({ link: 'connecting', synced: false, everConnected: false })).toBe('Connecting…')
    expect(label({ link: 'disconnected', synced: false })).toBe('Reconnecting…')
    expect(label({ link: 'disconnected', synced: false, online: false })).toBe('Offline')
    expect(label({ link: 'disconnected', synced: false, unsent: true })).toBe('Reconnecting · unsynced changes')
    expect(label({ link: 'disconnected', synced: false, online: false, unsent: true })).toBe(
      'Offline · unsynced changes',
    )
    expect(label({ link: 'disconnected', synced: false, online: false, pending: 2 })).toBe('Offline · unsynced changes')
  })

  it('shows viewers the live connection, not a save state', () => {
    expect(label({ readOnly: true, supported: false })).toBe('Connected')
    expect(label({ readOnly: true })).toBe('Connected')
  })

  it('reports lost access and ended sessions', () => {
    expect(describeStatus({ ...base, link: 'denied' }).state).toBe('denied')
    expect(label({ link: 'signed-out' })).toBe('Signed out')
  })
})

describe('a change refused as too large', () => {
  const refused = { link: 'disconnected', synced: false, unsent: true } as const

  it('is never Saved, and says the text is here but not saved', () => {
    const view = describeStatus({ ...base, ...refused, tooLarge: { what: 'change', limit: 200_000 } })
    expect(view.state).toBe('too-large')
    expect(view.label).toBe('Not saved')
    expect(view.detail).toContain('too large to save (the limit is 195 KB)')
    expect(view.detail).toContain('still here in this tab, but it is not saved')
    expect(label({ tooLarge: { what: 'change', limit: null } })).toBe('Not saved')
  })

  it('tells a change too large to send from a document too large to keep', () => {
    const detail = (what: 'change' | 'document', limit: number | null): string =>
      describeStatus({ ...base, ...refused, tooLarge: { what, limit } }).detail
    expect(detail('change', null)).toMatch(/^Your last change is too large to save\. /)
    expect(detail('document', 128 * 1024 * 1024)).toMatch(
      /^Your last change would make the document too large to save \(the limit is 128 MB\)\. /,
    )
  })

  it('reads the refusal and the limit from the close', () => {
    expect(tooLargeFrom(1009, 'frame with 1500000 bytes exceeds limit of 200000 bytes')).toEqual({
      what: 'change',
      limit: 200_000,
    })
    expect(tooLargeFrom(1009, 'Message exceeds the maximum size (33554432 bytes)')).toEqual({
      what: 'change',
      limit: 33_554_432,
    })
    expect(tooLargeFrom(1009, '')).toEqual({ what: 'change', limit: null })
    expect(tooLargeFrom(4413, 'too large to save')).toEqual({ what: 'document', limit: null })
    expect(tooLargeFrom(4404, '')).toBeNull()
    expect(tooLargeFrom(1000, '12 bytes')).toBeNull()
  })

  it('gives sizes in the units people read', () => {
    expect(formatBytes(512)).toBe('512 bytes')
    expect(formatBytes(1536)).toBe('1.5 KB')
    expect(formatBytes(200_000)).toBe('195 KB')
    expect(formatBytes(32 * 1024 * 1024)).toBe('32 MB')
  })
})
