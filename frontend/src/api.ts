/** The REST API: JSON in and out, the access token attached and refreshed once on 401. */

import { accessToken, refreshNow, signOut } from './session'

export type Role = 'owner' | 'editor' | 'viewer'

export interface DocumentRow {
  id: string
  title: string
  owner: string
  role: Role
  created_at: string
  updated_at: string
}

export interface Member {
  username: string
  role: Role
  since: string
}

export interface Page<T> {
  count: number
  next: string | null
  previous: string | null
  results: T[]
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(describeError(status, body))
  }

  /** Messages for one input field (DRF's `{field: [messages]}`). */
  field(name: string): string | undefined {
    if (this.body && typeof this.body === 'object' && name in this.body) {
      const value = (this.body as Record<string, unknown>)[name]
      return Array.isArray(value) ? value.join(' ') : String(value)
    }
    return undefined
  }
}

export function describeError(status: number, body: unknown): string {
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>
    if (typeof record.detail === 'string') return record.detail
    const first = Object.values(record)[0]
    if (Array.isArray(first) && first.length) return String(first[0])
    if (typeof first === 'string') return first
  }
  if (status === 0) return 'Tandem cannot be reached. Check your connection.'
  return `Something went wrong (HTTP ${status}).`
}

/** A pagination link as a same-origin path (the server may name another host behind a proxy). */
function relative(link: string): string {
  const url = new URL(link, location.origin)
  return url.pathname + url.search
}

export async function request<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
  const send = async (token: string | null): Promise<Response> => {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (token) headers.Authorization = `Bearer ${token}`
    try {
      return await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch {
      throw new ApiError(0, null)
    }
  }
  let response = await send(auth ? await accessToken() : null)
  if (response.status === 401 && auth) {
    const renewed = await refreshNow()
    if (!renewed) {
      signOut()
      throw new ApiError(401, { detail: 'Your session has ended. Please log in again.' })
    }
    response = await send(renewed.access)
  }
  const text = await response.text()
  let parsed: unknown
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    parsed = text
  }
  if (!response.ok) throw new ApiError(response.status, parsed)
  return parsed as T
}

export const api = {
  register: (username: string, password: string) =>
    request<{ id: number; username: string }>('POST', '/api/auth/register/', { username, password }, false),
  token: (username: string, password: string) =>
    request<{ access: string; refresh: string }>('POST', '/api/auth/token/', { username, password }, false),
  me: () => request<{ id: number; username: string }>('GET', '/api/auth/me/'),

  async documents(): Promise<DocumentRow[]> {
    const rows: DocumentRow[] = []
    let url: string | null = '/api/documents/'
    while (url) {
      const page: Page<DocumentRow> = await request<Page<DocumentRow>>('GET', url)
      rows.push(...page.results)
      url = page.next ? relative(page.next) : null
    }
    return rows
  },
  document: (id: string) => request<DocumentRow>('GET', `/api/documents/${id}/`),
  createDocument: (title: string) => request<DocumentRow>('POST', '/api/documents/', { title }),
  renameDocument: (id: string, title: string) => request<DocumentRow>('PATCH', `/api/documents/${id}/`, { title }),
  deleteDocument: (id: string) => request<null>('DELETE', `/api/documents/${id}/`),

  members: (id: string) => request<Member[]>('GET', `/api/documents/${id}/members/`),
  addMember: (id: string, username: string, role: Role) =>
    request<Member>('POST', `/api/documents/${id}/members/`, { username, role }),
  setRole: (id: string, username: string, role: Role) =>
    request<Member>('PATCH', `/api/documents/${id}/members/${encodeURIComponent(username)}/`, { role }),
  removeMember: (id: string, username: string) =>
    request<null>('DELETE', `/api/documents/${id}/members/${encodeURIComponent(username)}/`),

  /** The newest history rows (one per stored update), at most `maxPages` pages of them. */
  async history(id: string, maxPages = 10): Promise<unknown[]> {
    const rows: unknown[] = []
    let url: string | null = `/api/documents/${id}/history/`
    for (let page = 0; url && page < maxPages; page++) {
      const body: unknown = await request<unknown>('GET', url)
      if (Array.isArray(body)) return body
      const paged = body as Partial<Page<unknown>>
      rows.push(...(paged.results ?? []))
      url = paged.next ? relative(paged.next) : null
    }
    return rows
  },
  version: (id: string, seq: number) =>
    request<{ text: string; html: string; seq: number }>('GET', `/api/documents/${id}/versions/${seq}/`),
  restore: (id: string, seq: number) => request<unknown>('POST', `/api/documents/${id}/restore/`, { seq }),
}
