/**
 * The live channel's messages and the choice between its two transports: the WebSocket
 * `/ws/notifications/`, and Server-Sent Events `/api/notifications/stream/` where a WebSocket
 * cannot be opened. Both replay what came after `after`, say `ready`, then go live.
 */

import type { Notification } from './model'

export type Transport = 'websocket' | 'sse'

export type ChannelMessage =
  { type: 'notification'; notification: Notification } | { type: 'ready'; head: number; unread: number }

function isNotification(value: unknown): value is Notification {
  const n = value as Partial<Notification> | null
  return !!n && typeof n === 'object' && typeof n.id === 'number' && typeof n.type === 'string'
}

function withData(n: Notification): Notification {
  return { ...n, data: n.data && typeof n.data === 'object' ? n.data : {} }
}

/** A WebSocket text frame, or null when it is not one of ours. */
export function parseFrame(text: string): ChannelMessage | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  const message = value as Record<string, unknown> | null
  if (!message || typeof message !== 'object') return null
  if (message.type === 'notification' && isNotification(message.notification)) {
    return { type: 'notification', notification: withData(message.notification) }
  }
  if (message.type === 'ready') {
    return { type: 'ready', head: Number(message.head) || 0, unread: Number(message.unread) || 0 }
  }
  return null
}

/** An SSE event (`event:` name and `data:`), or null. */
export function parseEvent(name: string, data: string): ChannelMessage | null {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return null
  }
  if (name === 'notification' && isNotification(value)) {
    return { type: 'notification', notification: withData(value) }
  }
  if (name === 'ready' && value && typeof value === 'object') {
    const ready = value as Record<string, unknown>
    return { type: 'ready', head: Number(ready.head) || 0, unread: Number(ready.unread) || 0 }
  }
  return null
}

export function channelUrl(transport: Transport, origin: string, token: string, after: number): string {
  const query = `token=${encodeURIComponent(token)}&after=${after}`
  if (transport === 'sse') return `${origin}/api/notifications/stream/?${query}`
  const ws = origin.replace(/^http/, 'ws')
  return `${ws}/ws/notifications/?${query}`
}

/** Connections that end before `ready` this many times in a row move to the other transport. */
export const FAILURES_BEFORE_SWITCH = 2
const MAX_BACKOFF_MS = 30_000

/**
 * Which transport to try next and how long to wait first. A WebSocket that fails twice before
 * `ready` gives way to SSE; SSE failing as often tries the WebSocket again (a proxy may have
 * been fixed, or the server restarted). A connection that reached `ready` resets everything.
 */
export class TransportPolicy {
  transport: Transport = 'websocket'
  private failures = 0
  private attempts = 0

  /** The connection said `ready`. */
  ready(): void {
    this.failures = 0
    this.attempts = 0
  }

  /** The connection ended; `wasReady` says whether it had said `ready`. Returns the delay before the next try. */
  ended(wasReady: boolean): number {
    if (wasReady) {
      this.failures = 0
      this.attempts = 0
      return 250
    }
    this.failures++
    this.attempts++
    if (this.failures >= FAILURES_BEFORE_SWITCH) {
      this.transport = this.transport === 'websocket' ? 'sse' : 'websocket'
      this.failures = 0
    }
    return Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.max(0, this.attempts - 1))
  }
}
