/**
 * One document's live connection: y-websocket's provider, plus Tandem's extension for
 * "Saved", token refresh on close code 4401, and the close codes that mean "stop" (1009 and
 * 4413 refuse a change as too large: the local document keeps it, nothing is resent).
 */

import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

import { accessToken, onSessionChange, refreshNow } from './session'
import { MESSAGE_TANDEM, readTandemFrame, SaveTracker } from './tandem'
import { DOCUMENT_TOO_LARGE, MESSAGE_TOO_BIG, tooLargeFrom, type Link, type StatusFacts, type TooLarge } from './status'

/** Close codes after which reconnecting cannot help (docs/protocol.md). */
const FINAL_CLOSE = new Set([MESSAGE_TOO_BIG, DOCUMENT_TOO_LARGE, 4400, 4403, 4404])
const UNAUTHENTICATED = 4401
/**
 * y-websocket drops a connection that received nothing for 30 s. Alone in a quiet document
 * nothing arrives, so ask for the awareness states now and then (message type 3): the answer
 * keeps the connection alive and presence fresh.
 */
const KEEPALIVE_MS = 10_000
const QUERY_AWARENESS = new Uint8Array([3])

export interface ConnectionEvents {
  change(facts: StatusFacts): void
  denied(reason: string): void
}

export class DocumentConnection {
  readonly doc = new Y.Doc()
  readonly provider: WebsocketProvider
  readonly tracker = new SaveTracker()
  private link: Link = 'connecting'
  private tooLarge: TooLarge | null = null
  private everConnected = false
  private readOnly = false
  private stopSession: () => void
  private keepalive: ReturnType<typeof setInterval>

  constructor(
    readonly documentId: string,
    token: string,
    private readonly events: ConnectionEvents,
  ) {
    const tracker = this.tracker
    // Sees every frame y-websocket sends: the hello goes first, writes are counted.
    class TandemSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols)
        this.addEventListener('open', () => super.send(tracker.hello()))
      }
      override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (data instanceof Uint8Array) tracker.wrote(data)
        super.send(data as ArrayBufferView)
      }
    }
    const origin = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`
    this.provider = new WebsocketProvider(`${origin}/ws/documents`, documentId, this.doc, {
      params: { token },
      WebSocketPolyfill: TandemSocket as unknown as typeof WebSocket,
      disableBc: true,
      maxBackoffTime: 5000,
      shouldReconnect: (event) => !FINAL_CLOSE.has(event.code) && event.code !== UNAUTHENTICATED,
    })
    this.provider.messageHandlers[MESSAGE_TANDEM] = (_encoder: encoding.Encoder, decoder: decoding.Decoder) => {
      const frame = readTandemFrame(decoder)
      if (!frame) return
      if (frame.kind === 'update') Y.applyUpdate(this.doc, frame.update, this.provider)
      tracker.received(frame)
      this.emit()
    }
    const defaultAuth = this.provider.messageHandlers[2]
    this.provider.messageHandlers[2] = (
      encoder: encoding.Encoder,
      decoder: decoding.Decoder,
      ...rest: [WebsocketProvider, boolean, number]
    ) => {
      // y-websocket only logs a permission-denied message; the page should know.
      const copy = decoding.createDecoder(decoder.arr.subarray(decoder.pos))
      defaultAuth(encoder, decoder, ...rest)
      try {
        if (decoding.readVarUint(copy) === 0) this.events.denied(decoding.readVarString(copy))
      } catch {
        this.events.denied('permission denied')
      }
    }

    this.doc.on('update', (_update: Uint8Array, origin: unknown) => {
      if (origin !== this.provider) {
        tracker.localChange()
        this.emit()
      }
    })
    this.provider.on('status', ({ status }) => {
      if (status === 'connected') this.everConnected = true
      else if (status === 'disconnected') tracker.closed()
      if (!this.stopped) this.link = status === 'disconnected' ? 'disconnected' : status
      this.emit()
    })
    this.provider.on('sync', () => this.emit())
    this.provider.on('connection-close', () => {
      tracker.closed()
      this.emit()
    })
    this.provider.on('closed', ({ code, reason }) => void this.onFinalClose(code, reason))
    // New tokens (refreshed before expiry) are used by the next connection.
    this.stopSession = onSessionChange((session) => {
      if (session) this.provider.params = { ...this.provider.params, token: session.access }
    })
    window.addEventListener('online', this.onOnline)
    window.addEventListener('offline', this.onOffline)
    this.keepalive = setInterval(() => {
      const ws = this.provider.ws
      if (this.provider.wsconnected && ws?.readyState === WebSocket.OPEN) ws.send(QUERY_AWARENESS)
    }, KEEPALIVE_MS)
  }

  // The browser knows the network is gone before a socket notices: stop waiting on it, and
  // come back as soon as the network does (edits made meanwhile merge through sync).
  private onOffline = (): void => {
    if (this.stopped) return
    this.provider.disconnect()
    this.emit()
  }

  private onOnline = (): void => {
    if (this.stopped) return
    void this.reconnect()
  }

  /** Access ended, or the server refused a change as too large: resending cannot help. */
  private get stopped(): boolean {
    return this.link === 'denied' || this.link === 'signed-out' || this.tooLarge !== null
  }

  private async onFinalClose(code: number, reason: string): Promise<void> {
    const tooLarge = tooLargeFrom(code, reason)
    if (tooLarge) {
      this.tooLarge = tooLarge // the link stays 'disconnected'; the doc keeps the change
    } else if (code === UNAUTHENTICATED) {
      const session = await refreshNow()
      if (session) {
        this.provider.params = { ...this.provider.params, token: session.access }
        this.provider.connect()
        return
      }
      this.link = 'signed-out'
    } else if (code === 4403) {
      this.link = 'signed-out'
    } else {
      this.link = 'denied'
    }
    this.emit()
  }

  /** Drop the socket and open a new one (the server re-reads the role on connect). */
  async reconnect(): Promise<void> {
    if (this.stopped) return
    const token = await accessToken()
    if (token) this.provider.params = { ...this.provider.params, token }
    this.provider.disconnect()
    this.provider.connect()
  }

  /** REST says the access is gone: stop the socket (the server closes it with 4404 too). */
  revoked(): void {
    this.link = 'denied'
    this.provider.disconnect()
    this.emit()
  }

  setReadOnly(readOnly: boolean): void {
    this.readOnly = readOnly
    this.emit()
  }

  facts(): StatusFacts {
    return {
      link: this.link,
      synced: this.provider.synced,
      everConnected: this.everConnected,
      online: navigator.onLine,
      readOnly: this.readOnly,
      supported: this.tracker.supported,
      pending: this.tracker.pending,
      unsent: this.tracker.unsent,
      tooLarge: this.tooLarge,
    }
  }

  private emit = (): void => {
    this.events.change(this.facts())
  }

  destroy(): void {
    clearInterval(this.keepalive)
    this.stopSession()
    window.removeEventListener('online', this.onOnline)
    window.removeEventListener('offline', this.onOffline)
    this.provider.destroy()
    this.doc.destroy()
  }
}
