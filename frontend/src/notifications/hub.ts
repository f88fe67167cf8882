/**
 * The signed-in user's notifications: the inbox from REST, kept current over the live channel
 * (a WebSocket, or SSE where one cannot be opened). Pages subscribe; a reconnect asks only for
 * what came after the last number seen, and a number seen twice is dropped.
 */

import { request, type Page } from '../api'
import { accessToken, onSessionChange, refreshNow, session } from '../session'
import { emptyInbox, markRead, mergePage, receive, type InboxState, type Notification } from './model'
import { channelUrl, parseEvent, parseFrame, TransportPolicy, type ChannelMessage, type Transport } from './protocol'

export type HubEvent =
  /** A notification not seen before; `live` is false while the channel replays what was missed. */
  | { kind: 'notification'; notification: Notification; live: boolean }
  /** The channel caught up; `replayed` notifications came before this. */
  | { kind: 'ready'; replayed: number }
  /** The inbox changed (count, items or read marks). */
  | { kind: 'inbox' }

type Listener = (event: HubEvent) => void

const UNAUTHENTICATED = 4401
/** Close codes after which the channel stays closed: refused for good, or signed out. */
const STOP = new Set([4403])
const REST_RETRY_MS = 5_000
/** A channel that opened but says nothing (a proxy holding it back) counts as failed after this. */
const READY_TIMEOUT_MS = 15_000

class NotificationHub {
  state: InboxState = emptyInbox
  /** The REST list has older pages. */
  hasOlder = false
  transport: Transport | null = null
  /** The transport that said `ready` and is open, else null (shown on the bell as `data-live`). */
  live: Transport | null = null
  private nextPage = 2
  private listeners = new Set<Listener>()
  private policy = new TransportPolicy()
  private socket: WebSocket | null = null
  private source: EventSource | null = null
  private timer: ReturnType<typeof setTimeout> | undefined
  private readyTimer: ReturnType<typeof setTimeout> | undefined
  /** Bumped on every start, stop and connection, so callbacks of an old one are ignored. */
  private generation = 0
  /** Bumped on every start and stop, so REST answers for an earlier user are ignored. */
  private epoch = 0
  private loaded = false
  private running = false
  private isReady = false
  private replayed = 0

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private emit(event: HubEvent): void {
    for (const listener of [...this.listeners]) listener(event)
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.state = emptyInbox
    this.loaded = false
    void this.loadFirst(++this.epoch)
    window.addEventListener('online', this.onOnline)
  }

  stop(): void {
    this.running = false
    this.epoch++
    this.generation++
    clearTimeout(this.timer)
    this.closeTransport()
    this.state = emptyInbox
    this.hasOlder = false
    window.removeEventListener('online', this.onOnline)
    this.emit({ kind: 'inbox' })
  }

  /** The newest page and the unread count, then the live channel from the newest number. */
  private async loadFirst(epoch: number): Promise<void> {
    try {
      const [page, unread] = await Promise.all([
        request<Page<Notification>>('GET', '/api/notifications/'),
        request<{ unread: number }>('GET', '/api/notifications/unread/'),
      ])
      if (epoch !== this.epoch) return
      this.state = { ...mergePage(this.state, page.results), unread: unread.unread }
      this.hasOlder = page.next !== null
      this.nextPage = 2
      this.loaded = true
      this.emit({ kind: 'inbox' })
      void this.connect()
    } catch {
      if (epoch !== this.epoch) return
      this.timer = setTimeout(() => void this.loadFirst(epoch), REST_RETRY_MS)
    }
  }

  /** The next older page of the list, for the panel. */
  async loadOlder(): Promise<void> {
    if (!this.hasOlder) return
    const epoch = this.epoch
    const page = await request<Page<Notification>>('GET', `/api/notifications/?page=${this.nextPage}`)
    if (epoch !== this.epoch) return
    this.state = { ...mergePage(this.state, page.results), lastSeen: this.state.lastSeen }
    this.hasOlder = page.next !== null
    this.nextPage++
    this.emit({ kind: 'inbox' })
  }

  async markRead(ids: number[] | null): Promise<void> {
    this.state = markRead(this.state, ids)
    this.emit({ kind: 'inbox' })
    const answer = await request<{ marked: number; unread: number }>(
      'POST',
      '/api/notifications/read/',
      ids === null ? { all: true } : { ids },
    )
    this.state = { ...this.state, unread: answer.unread }
    this.emit({ kind: 'inbox' })
  }

  private onOnline = (): void => {
    if (this.running && !this.socket && !this.source && this.loaded) {
      clearTimeout(this.timer)
      void this.connect()
    }
  }

  private closeTransport(): void {
    clearTimeout(this.readyTimer)
    this.live = null
    const socket = this.socket
    this.socket = null
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000)
    this.source?.close()
    this.source = null
    this.transport = null
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation
    this.closeTransport()
    const token = await accessToken()
    if (!token || generation !== this.generation || !this.running) return
    this.isReady = false
    this.replayed = 0
    const transport = this.policy.transport
    const url = channelUrl(transport, location.origin, token, this.state.lastSeen)
    this.transport = transport
    if (transport === 'websocket') this.openSocket(url, generation)
    else this.openSource(url, generation)
    clearTimeout(this.readyTimer)
    this.readyTimer = setTimeout(() => {
      if (generation !== this.generation || this.isReady) return
      const next = ++this.generation // the old transport's close events are ignored from now on
      this.closeTransport()
      this.ended(next)
    }, READY_TIMEOUT_MS)
  }

  private openSocket(url: string, generation: number): void {
    let socket: WebSocket
    try {
      socket = new WebSocket(url)
    } catch {
      this.ended(generation)
      return
    }
    this.socket = socket
    socket.addEventListener('message', (event) => {
      if (generation !== this.generation || typeof event.data !== 'string') return
      const message = parseFrame(event.data)
      if (message) this.handle(message)
    })
    socket.addEventListener('close', (event) => {
      if (generation !== this.generation) return
      this.socket = null
      if (event.code === UNAUTHENTICATED) {
        // The token expired or every session was ended: a refreshed token, or signed out.
        void refreshNow().then((renewed) => {
          if (renewed && generation === this.generation) void this.connect()
        })
        return
      }
      if (STOP.has(event.code)) return
      this.ended(generation)
    })
  }

  private openSource(url: string, generation: number): void {
    const source = new EventSource(url)
    this.source = source
    const on = (name: string) => (event: MessageEvent) => {
      if (generation !== this.generation) return
      const message = parseEvent(name, String(event.data))
      if (message) this.handle(message)
    }
    source.addEventListener('notification', on('notification'))
    source.addEventListener('ready', on('ready'))
    // EventSource would retry by itself with the same (ageing) token: reconnect ourselves.
    source.addEventListener('error', () => {
      if (generation !== this.generation) return
      source.close()
      this.source = null
      this.ended(generation)
    })
  }

  private ended(generation: number): void {
    if (!this.running || generation !== this.generation) return
    const delay = this.policy.ended(this.isReady)
    this.transport = null
    this.live = null
    this.emit({ kind: 'inbox' })
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.connect(), delay)
  }

  private handle(message: ChannelMessage): void {
    if (message.type === 'ready') {
      this.isReady = true
      this.live = this.transport
      this.policy.ready()
      // `head` is what the server has now sent up to: the next reconnect resumes after it.
      this.state = { ...this.state, unread: message.unread, lastSeen: Math.max(this.state.lastSeen, message.head) }
      this.emit({ kind: 'ready', replayed: this.replayed })
      this.emit({ kind: 'inbox' })
      return
    }
    const next = receive(this.state, message.notification)
    if (!next) return // seen already (a replay overlapping what we had)
    // Before `ready` the server's count already includes it; after, count it here.
    this.state = this.isReady ? next : { ...next, unread: this.state.unread }
    if (!this.isReady) this.replayed++
    this.emit({ kind: 'notification', notification: message.notification, live: this.isReady })
    this.emit({ kind: 'inbox' })
  }
}

export const notifications = new NotificationHub()

/** Run the hub while someone is signed in. */
export function startNotifications(): void {
  let user = session()?.username ?? null
  if (user) notifications.start()
  onSessionChange((current) => {
    const next = current?.username ?? null
    if (next === user) return
    user = next
    notifications.stop()
    if (next) notifications.start()
  })
}
