import { describe, expect, it } from 'vitest'

import { colorFor, initials, PALETTE } from './colors'
import { groupHistory, normalizeHistory } from './history'
import { jwtExpiry, refreshDelay } from './jwt'
import { safeHref } from './links'
import { peopleFrom } from './people'
import { match, safeNext } from './router'
import { relativeTime } from './time'

function jwt(claims: object): string {
  const part = (value: object) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  return `${part({ alg: 'HS256' })}.${part(claims)}.signature`
}

describe('jwt', () => {
  it('reads the expiry claim in milliseconds', () => {
    expect(jwtExpiry(jwt({ exp: 1_700_000_000, user_id: 1 }))).toBe(1_700_000_000_000)
    expect(jwtExpiry('not a token')).toBeNull()
    expect(jwtExpiry(jwt({ sub: 'x' }))).toBeNull()
  })

  it('refreshes a minute early, or at 80% of a short life, never in the past', () => {
    expect(refreshDelay(900_000, 0, 0)).toBe(840_000)
    expect(refreshDelay(10_000, 0, 0)).toBe(8_000)
    expect(refreshDelay(10_000, 0, 9_500)).toBe(0)
  })
})

describe('router', () => {
  it('matches the app routes', () => {
    expect(match('/')).toEqual({ name: 'documents' })
    expect(match('/login', '?next=/d/x')).toEqual({ name: 'login', next: '/d/x' })
    expect(match('/register')).toEqual({ name: 'register', next: '/' })
    const id = '7f0c1b7e-2a4f-4d5e-9a0b-1c2d3e4f5a6b'
    expect(match(`/d/${id}`)).toEqual({ name: 'editor', id })
    expect(match(`/d/${id}/`)).toEqual({ name: 'editor', id })
    expect(match('/d/nope')).toEqual({ name: 'not-found' })
  })

  it('only follows same-site next paths', () => {
    expect(safeNext('//evil.example/')).toBe('/')
    expect(safeNext('https://evil.example/')).toBe('/')
    expect(safeNext(null)).toBe('/')
    expect(safeNext('/d/1')).toBe('/d/1')
  })
})

describe('people', () => {
  it('gives each name a stable palette colour and initials', () => {
    expect(colorFor('alice')).toBe(colorFor('Alice'))
    expect(PALETTE).toContain(colorFor('bob'))
    expect(initials('ada.lovelace')).toBe('AL')
    expect(initials('bob')).toBe('BO')
  })

  it('lists each person once, yourself first', () => {
    const states = new Map<number, Record<string, unknown>>([
      [1, { user: { name: 'zoe', color: '#111111' } }],
      [2, { user: { name: 'bob', color: '#222222' } }],
      [3, { user: { name: 'zoe', color: '#111111' } }],
      [4, {}],
    ])
    expect(peopleFrom(states, 3).map((p) => [p.name, p.self])).toEqual([
      ['zoe', true],
      ['bob', false],
    ])
  })
})

describe('history', () => {
  const rows = {
    count: 5,
    results: [
      { seq: 5, author: 'bob', created_at: '2026-01-01T10:10:00Z', size: 20 },
      { seq: 4, author: 'alice', created_at: '2026-01-01T10:01:00Z', size: 20 },
      { seq: 3, author: 'alice', created_at: '2026-01-01T10:00:30Z', size: 20 },
      { seq: 2, author: 'alice', created_at: '2026-01-01T09:00:00Z', size: 20 },
      { seq: 1, author: null, created_at: '2026-01-01T08:00:00Z', size: 20 },
    ],
  }

  it('reads the paginated rows, newest first', () => {
    const entries = normalizeHistory(rows)
    expect(entries.map((e) => e.seq)).toEqual([5, 4, 3, 2, 1])
    expect(entries[0]).toEqual({ seq: 5, user: 'bob', at: '2026-01-01T10:10:00Z' })
    expect(entries[4].user).toBeNull()
    expect(normalizeHistory(rows.results)).toHaveLength(5)
  })

  it('folds one person’s nearby changes into one session', () => {
    const groups = groupHistory(normalizeHistory(rows))
    expect(groups.map((g) => [g.user, g.seq, g.firstSeq, g.changes])).toEqual([
      ['bob', 5, 5, 1],
      ['alice', 4, 3, 2],
      ['alice', 2, 2, 1],
      [null, 1, 1, 1],
    ])
  })
})

describe('relativeTime', () => {
  const now = new Date('2026-01-02T12:00:00Z')
  it('speaks like a person', () => {
    expect(relativeTime('2026-01-02T11:59:50Z', now)).toBe('just now')
    expect(relativeTime('2026-01-02T11:55:00Z', now)).toBe('5 min ago')
    expect(relativeTime('2026-01-02T09:00:00Z', now)).toBe('3 h ago')
    expect(relativeTime('2026-01-01T12:00:00Z', now)).toBe('yesterday')
    expect(relativeTime('garbage', now)).toBe('')
  })
})

describe('safeHref', () => {
  it('keeps web and mail links, completes bare hosts, drops other schemes', () => {
    expect(safeHref(' https://example.com/a ')).toBe('https://example.com/a')
    expect(safeHref('mailto:ada@example.com')).toBe('mailto:ada@example.com')
    expect(safeHref('example.com/x')).toBe('https://example.com/x')
    expect(safeHref('javascript:alert(1)')).toBe('')
    expect(safeHref('data:text/html,hi')).toBe('')
    expect(safeHref('')).toBe('')
  })
})
