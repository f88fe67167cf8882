/**
 * The signed-in session: the JWT pair in localStorage, refreshed before the access token
 * expires. Everything that needs a token asks `accessToken()`.
 */

import { jwtExpiry, refreshDelay } from './jwt'

const KEY = 'tandem.session'

export interface Session {
  username: string
  access: string
  refresh: string
  /** When `access` was obtained (ms since epoch), to plan its refresh. */
  obtainedAt: number
}

type Listener = (session: Session | null) => void

let current: Session | null = load()
let timer: ReturnType<typeof setTimeout> | undefined
let inflight: Promise<Session | null> | null = null
const listeners = new Set<Listener>()

function load(): Session | null {
  try {
    const raw = localStorage.getItem(KEY)
    return raw ? (JSON.parse(raw) as Session) : null
  } catch {
    return null
  }
}

function store(session: Session | null): void {
  current = session
  if (session) localStorage.setItem(KEY, JSON.stringify(session))
  else localStorage.removeItem(KEY)
  schedule()
  for (const listener of listeners) listener(session)
}

function schedule(): void {
  clearTimeout(timer)
  if (!current) return
  const expiresAt = jwtExpiry(current.access)
  if (expiresAt === null) return
  const delay = refreshDelay(expiresAt, current.obtainedAt, Date.now())
  timer = setTimeout(() => void refreshNow(), Math.min(delay, 2 ** 31 - 1))
}

export function session(): Session | null {
  return current
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export function signIn(username: string, access: string, refresh: string): void {
  store({ username, access, refresh, obtainedAt: Date.now() })
}

export function signOut(): void {
  store(null)
}

/** Exchange the refresh token for a new access token; signs out when the refresh is refused. */
export function refreshNow(): Promise<Session | null> {
  if (inflight) return inflight
  const before = current
  if (!before) return Promise.resolve(null)
  inflight = (async () => {
    try {
      const response = await fetch('/api/auth/token/refresh/', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh: before.refresh }),
      })
      if (response.status === 401 || response.status === 400) {
        if (current === before) store(null)
        return null
      }
      if (!response.ok) throw new Error(`refresh failed: ${response.status}`)
      const body = (await response.json()) as { access: string; refresh?: string }
      store({ ...before, access: body.access, refresh: body.refresh ?? before.refresh, obtainedAt: Date.now() })
      return current
    } catch {
      // Offline or the server is restarting: keep the session and try again soon.
      clearTimeout(timer)
      timer = setTimeout(() => void refreshNow(), 15_000)
      return current
    } finally {
      inflight = null
    }
  })()
  return inflight
}

/** An access token that is valid for at least a few more seconds, refreshing it if needed. */
export async function accessToken(): Promise<string | null> {
  if (!current) return null
  const expiresAt = jwtExpiry(current.access)
  if (expiresAt !== null && expiresAt - Date.now() < 10_000) {
    return (await refreshNow())?.access ?? null
  }
  return current.access
}

// Another tab signed in or out.
window.addEventListener('storage', (event) => {
  if (event.key === KEY) {
    current = load()
    schedule()
    for (const listener of listeners) listener(current)
  }
})
schedule()
