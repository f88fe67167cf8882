import { describe, expect, it } from 'vitest'

import type { DocumentRow } from './api'
import { matchMembers, moveHighlight } from './editor/mentionMatch'
import {
  addRow,
  applyToList,
  describeNotification,
  emptyInbox,
  goneDocuments,
  linkFor,
  markRead,
  mergePage,
  receive,
  type InboxState,
  type Notification,
} from './notifications/model'
import { channelUrl, parseEvent, parseFrame, TransportPolicy } from './notifications/protocol'

const DOC = '7f0c1b7e-2a4f-4d5e-9a0b-1c2d3e4f5a6b'

function note(id: number, type: string, data: Record<string, unknown> = {}, read = false): Notification {
  return {
    id,
    type,
    created_at: '2026-12-02T10:00:00Z',
    read,
    actor: { id: 1, username: 'alice' },
    document: { id: DOC, title: 'Q3 plan' },
    data,
  }
}

function row(id: string, title: string, role: DocumentRow['role'] = 'editor'): DocumentRow {
  return { id, title, owner: 'alice', role, created_at: '', updated_at: '' }
}

describe('notification text', () => {
  it('names who did what to which document', () => {
    expect(describeNotification(note(1, 'document.shared', { role: 'editor' }))).toBe(
      'alice shared “Q3 plan” with you as an editor.',
    )
    expect(describeNotification(note(2, 'member.role_changed', { role: 'viewer' }))).toBe(
      'alice made you a viewer of “Q3 plan”.',
    )
    expect(describeNotification(note(3, 'member.removed'))).toBe('alice removed you from “Q3 plan”.')
    expect(describeNotification(note(4, 'document.renamed', { previous_title: 'Plan' }))).toBe(
      'alice renamed “Plan” to “Q3 plan”.',
    )
    expect(describeNotification(note(5, 'document.deleted'))).toBe('alice deleted “Q3 plan”.')
    expect(describeNotification(note(6, 'mention', { text: 'Ask  @bob\nabout it' }))).toBe(
      'alice mentioned you in “Q3 plan”: “Ask @bob about it”',
    )
    expect(describeNotification(note(7, 'mention.undelivered', { username: 'carol' }))).toBe(
      '@carol is not a member of “Q3 plan”, so nobody was told of your mention.',
    )
  })

  it('copes with no actor, no document, long text and unknown types', () => {
    const n = { ...note(1, 'document.deleted'), actor: null, document: null }
    expect(describeNotification(n)).toBe('Someone deleted “a document”.')
    const long = describeNotification(note(2, 'mention', { text: 'x'.repeat(200) }))
    expect(long.length).toBeLessThan(120)
    expect(long).toContain('…')
    expect(describeNotification(note(3, 'something.new'))).toBe('alice changed “Q3 plan”.')
  })
})

describe('inbox', () => {
  it('keeps each number once, newest first, and counts the unread', () => {
    let state: InboxState = emptyInbox
    for (const n of [note(1, 'mention'), note(2, 'mention', {}, true), note(3, 'mention')]) {
      state = receive(state, n) ?? state
    }
    expect(state.items.map((n) => n.id)).toEqual([3, 2, 1])
    expect(state.lastSeen).toBe(3)
    expect(state.unread).toBe(2)
    // A replay after a reconnect repeats what was seen: dropped.
    expect(receive(state, note(3, 'mention'))).toBeNull()
    expect(receive(state, note(2, 'mention'))).toBeNull()
    expect(receive(state, note(4, 'mention'))?.items.map((n) => n.id)).toEqual([4, 3, 2, 1])
  })

  it('merges REST pages with what came live, one of each number', () => {
    let state = receive(emptyInbox, note(5, 'mention'))!
    state = mergePage(state, [note(5, 'mention'), note(4, 'mention'), note(3, 'mention')])
    state = mergePage(state, [note(2, 'mention'), note(1, 'mention')])
    expect(state.items.map((n) => n.id)).toEqual([5, 4, 3, 2, 1])
    expect(state.lastSeen).toBe(5)
    expect(mergePage(emptyInbox, [note(9, 'mention'), note(7, 'mention')]).lastSeen).toBe(9)
  })

  it('marks some or all read', () => {
    let state: InboxState = {
      ...mergePage(emptyInbox, [note(3, 'x'), note(2, 'x'), note(1, 'x', {}, true)]),
      unread: 2,
    }
    state = markRead(state, [3])
    expect(state.unread).toBe(1)
    expect(state.items.map((n) => n.read)).toEqual([true, false, true])
    expect(markRead(state, null).unread).toBe(0)
    expect(markRead(state, [2], 7).unread).toBe(7) // the server's count wins
  })

  it('links to documents that still exist', () => {
    const newestFirst = [note(3, 'document.deleted'), note(2, 'document.renamed'), note(1, 'document.shared')]
    const gone = goneDocuments(newestFirst)
    expect(linkFor(newestFirst[1], gone)).toBeNull()
    // Removed, then shared again: back.
    const back = goneDocuments([note(2, 'document.shared'), note(1, 'member.removed')])
    expect(linkFor(note(3, 'mention'), back)).toBe(`/d/${DOC}`)
    // Deleted is for good.
    expect(goneDocuments([note(2, 'document.shared'), note(1, 'document.deleted')]).has(DOC)).toBe(true)
  })
})

describe('the document list follows notifications', () => {
  const rows = [row(DOC, 'Q3 plan', 'editor'), row('other', 'Other', 'owner')]

  it('fetches a shared document once and adds it first', () => {
    const change = applyToList([rows[1]], note(1, 'document.shared', { role: 'editor' }))
    expect(change.fetch).toBe(DOC)
    expect(applyToList(rows, note(1, 'document.shared')).fetch).toBeNull()
    expect(addRow([rows[1]], rows[0]).map((r) => r.id)).toEqual([DOC, 'other'])
    expect(addRow(rows, rows[0])).toHaveLength(2)
  })

  it('renames, changes the role, removes', () => {
    const renamed = { ...note(1, 'document.renamed'), document: { id: DOC, title: 'Q4 plan' } }
    expect(applyToList(rows, renamed).rows[0].title).toBe('Q4 plan')
    expect(applyToList(rows, note(2, 'member.role_changed', { role: 'viewer' })).rows[0].role).toBe('viewer')
    expect(applyToList(rows, note(2, 'member.role_changed', { role: 'owner' })).rows[0].role).toBe('editor')
    expect(applyToList(rows, note(3, 'member.removed')).rows.map((r) => r.id)).toEqual(['other'])
    expect(applyToList(rows, note(4, 'document.deleted')).rows.map((r) => r.id)).toEqual(['other'])
    expect(applyToList(rows, note(5, 'mention')).rows).toEqual(rows)
  })
})

describe('live channel', () => {
  it('reads WebSocket frames and SSE events alike', () => {
    const n = note(4, 'mention', { text: 'hi' })
    expect(parseFrame(JSON.stringify({ type: 'notification', notification: n }))).toEqual({
      type: 'notification',
      notification: n,
    })
    expect(parseFrame('{"type":"ready","head":4,"unread":2}')).toEqual({ type: 'ready', head: 4, unread: 2 })
    expect(parseEvent('notification', JSON.stringify(n))).toEqual({ type: 'notification', notification: n })
    expect(parseEvent('ready', '{"head":0,"unread":0}')).toEqual({ type: 'ready', head: 0, unread: 0 })
    expect(parseFrame('not json')).toBeNull()
    expect(parseFrame('{"type":"notification","notification":{"id":"x"}}')).toBeNull()
    expect(parseEvent('ping', '{}')).toBeNull()
  })

  it('asks for what came after the last number seen', () => {
    expect(channelUrl('websocket', 'https://t.example', 'a.b c', 7)).toBe(
      'wss://t.example/ws/notifications/?token=a.b%20c&after=7',
    )
    expect(channelUrl('sse', 'http://127.0.0.1:8000', 'tok', 0)).toBe(
      'http://127.0.0.1:8000/api/notifications/stream/?token=tok&after=0',
    )
  })

  it('falls back to SSE after two WebSocket failures before ready, and back again', () => {
    const policy = new TransportPolicy()
    expect(policy.transport).toBe('websocket')
    policy.ended(true)
    expect(policy.transport).toBe('websocket') // a socket that was ready: just reconnect
    const first = policy.ended(false)
    expect(policy.transport).toBe('websocket')
    const second = policy.ended(false)
    expect(policy.transport).toBe('sse')
    expect(second).toBeGreaterThan(first)
    policy.ready()
    policy.ended(false)
    policy.ended(false)
    expect(policy.transport).toBe('websocket')
    for (let i = 0; i < 20; i++) expect(policy.ended(false)).toBeLessThanOrEqual(30_000)
  })
})

describe('mention suggestions', () => {
  const members = ['alice', 'bob', 'bobby', 'rob', 'me'].map((username) => ({
    username,
    role: 'editor' as const,
    since: '',
  }))

  it('offers members but me, prefix matches first', () => {
    expect(matchMembers(members, '', 'me')).toEqual(['alice', 'bob', 'bobby', 'rob'])
    expect(matchMembers(members, 'ob', 'me')).toEqual(['bob', 'bobby', 'rob'])
    expect(matchMembers(members, 'BO', 'me')).toEqual(['bob', 'bobby'])
    expect(matchMembers(members, 'zz', 'me')).toEqual([])
  })

  it('moves the highlight around the list', () => {
    expect(moveHighlight(0, 3, 'ArrowDown')).toBe(1)
    expect(moveHighlight(2, 3, 'ArrowDown')).toBe(0)
    expect(moveHighlight(0, 3, 'ArrowUp')).toBe(2)
    expect(moveHighlight(0, 0, 'ArrowUp')).toBe(0)
  })
})
