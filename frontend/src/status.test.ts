import { describe, expect, it } from 'vitest'

import { describeStatus, type StatusFacts } from './status'

const base: StatusFacts = {
  link: 'connected', synced: true, everConnected: true, online: true,
  readOnly: false, supported: true, pending: 0, unsent: false,
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
    expect(label({ link: 'disconnected', synced: false, online: false, unsent: true })).toBe('Offline · unsynced changes')
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
