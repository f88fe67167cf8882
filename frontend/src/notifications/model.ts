/**
 * Notifications as data: their shape, what they say, the inbox they fill (numbered, so a
 * replay after a reconnect is de-duplicated by number) and what each does to the document list.
 * No DOM here: the bell, the toasts and the pages use these.
 */

import type { DocumentRow, Role } from '../api'

export type NotificationType =
  | 'document.shared'
  | 'member.role_changed'
  | 'member.removed'
  | 'document.renamed'
  | 'document.deleted'
  | 'mention'
  | 'mention.undelivered'

export interface Notification {
  /** The user's notification number: 1, 2, 3... in commit order. */
  id: number
  type: NotificationType | string
  created_at: string
  read: boolean
  actor: { id: number; username: string } | null
  document: { id: string; title: string } | null
  data: Record<string, unknown>
}

function roleName(role: unknown): string {
  return role === 'viewer' ? 'a viewer' : role === 'owner' ? 'the owner' : 'an editor'
}

function quoted(title: string | undefined): string {
  return `“${title ?? 'a document'}”`
}

function clip(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

/** One sentence saying who did what to which document. */
export function describeNotification(n: Notification): string {
  const who = n.actor?.username ?? 'Someone'
  const title = quoted(n.document?.title)
  switch (n.type) {
    case 'document.shared':
      return `${who} shared ${title} with you as ${roleName(n.data.role)}.`
    case 'member.role_changed':
      return `${who} made you ${roleName(n.data.role)} of ${title}.`
    case 'member.removed':
      return `${who} removed you from ${title}.`
    case 'document.renamed': {
      const before = typeof n.data.previous_title === 'string' ? n.data.previous_title : undefined
      return before ? `${who} renamed ${quoted(before)} to ${title}.` : `${who} renamed a document to ${title}.`
    }
    case 'document.deleted':
      return `${who} deleted ${title}.`
    case 'mention': {
      const text = typeof n.data.text === 'string' ? clip(n.data.text) : ''
      return text ? `${who} mentioned you in ${title}: “${text}”` : `${who} mentioned you in ${title}.`
    }
    case 'mention.undelivered': {
      const name = typeof n.data.username === 'string' ? n.data.username : 'someone'
      return `@${name} is not a member of ${title}, so nobody was told of your mention.`
    }
    default:
      return `${who} changed ${title}.`
  }
}

/** The documents these notifications leave out of reach (deleted, or removed and not shared again). */
export function goneDocuments(newestFirst: readonly Notification[]): Set<string> {
  const gone = new Set<string>()
  const deleted = new Set<string>()
  for (let i = newestFirst.length - 1; i >= 0; i--) {
    const n = newestFirst[i]
    const id = n.document?.id
    if (!id) continue
    if (n.type === 'document.deleted') deleted.add(id)
    if (n.type === 'document.deleted' || n.type === 'member.removed') gone.add(id)
    else if (n.type === 'document.shared' && !deleted.has(id)) gone.delete(id)
  }
  return gone
}

/** Where a notification leads: its document, unless it is gone. */
export function linkFor(n: Notification, gone: ReadonlySet<string>): string | null {
  const id = n.document?.id
  return id && !gone.has(id) ? `/d/${id}` : null
}

export interface InboxState {
  /** Newest first, each number once. */
  items: Notification[]
  /** The highest number seen: a reconnect asks for what came after it. */
  lastSeen: number
  unread: number
}

export const emptyInbox: InboxState = { items: [], lastSeen: 0, unread: 0 }

/** Add a live (or replayed) notification; null when its number was already seen. */
export function receive(state: InboxState, n: Notification): InboxState | null {
  if (!Number.isInteger(n.id) || n.id <= state.lastSeen) return null
  return {
    items: insertNewestFirst(state.items, n),
    lastSeen: n.id,
    unread: state.unread + (n.read ? 0 : 1),
  }
}

/** Merge a page from the REST list (any order), keeping one of each number. */
export function mergePage(state: InboxState, page: readonly Notification[]): InboxState {
  let items = state.items
  for (const n of page) items = insertNewestFirst(items, n)
  const lastSeen = items.length ? Math.max(state.lastSeen, items[0].id) : state.lastSeen
  return { ...state, items, lastSeen }
}

function insertNewestFirst(items: readonly Notification[], n: Notification): Notification[] {
  const at = items.findIndex((other) => other.id <= n.id)
  if (at === -1) return [...items, n]
  if (items[at].id === n.id) return [...items.slice(0, at), n, ...items.slice(at + 1)]
  return [...items.slice(0, at), n, ...items.slice(at)]
}

/** Mark `ids` read (all when null); `unread` is the server's count when it gave one. */
export function markRead(state: InboxState, ids: readonly number[] | null, unread?: number): InboxState {
  const marked = ids === null ? null : new Set(ids)
  let newlyRead = 0
  const items = state.items.map((n) => {
    if (n.read || (marked !== null && !marked.has(n.id))) return n
    newlyRead++
    return { ...n, read: true }
  })
  return { ...state, items, unread: unread ?? (marked === null ? 0 : Math.max(0, state.unread - newlyRead)) }
}

/** What a notification asks of the document list: new rows, or a document to fetch and add. */
export interface ListChange {
  rows: DocumentRow[]
  /** A document shared with the user: fetch its row and add it. */
  fetch: string | null
}

export function applyToList(rows: readonly DocumentRow[], n: Notification): ListChange {
  const id = n.document?.id
  const same = { rows: [...rows], fetch: null }
  if (!id) return same
  switch (n.type) {
    case 'document.shared':
      return rows.some((row) => row.id === id) ? same : { rows: [...rows], fetch: id }
    case 'document.renamed':
      return { rows: rows.map((row) => (row.id === id ? { ...row, title: n.document!.title } : row)), fetch: null }
    case 'member.role_changed': {
      const role = n.data.role
      if (role !== 'editor' && role !== 'viewer') return same
      return { rows: rows.map((row) => (row.id === id ? { ...row, role: role as Role } : row)), fetch: null }
    }
    case 'document.deleted':
    case 'member.removed':
      return { rows: rows.filter((row) => row.id !== id), fetch: null }
    default:
      return same
  }
}

/** Add a fetched row (a shared document) unless it is there already: newest shares first. */
export function addRow(rows: readonly DocumentRow[], row: DocumentRow): DocumentRow[] {
  return rows.some((other) => other.id === row.id) ? [...rows] : [row, ...rows]
}
