/** What the status pill says, from the connection's facts. Pure, so it is unit-tested. */

export type Link = 'connecting' | 'connected' | 'disconnected' | 'denied' | 'signed-out'

/** The server refused a change as too large: one message (1009) or the document's size (4413). */
export interface TooLarge {
  what: 'change' | 'document'
  /** The limit in bytes, when the close reason gives it. */
  limit: number | null
}

export const MESSAGE_TOO_BIG = 1009
export const DOCUMENT_TOO_LARGE = 4413

export interface StatusFacts {
  link: Link
  synced: boolean
  everConnected: boolean
  online: boolean
  readOnly: boolean
  supported: boolean
  pending: number
  unsent: boolean
  tooLarge: TooLarge | null
}

export interface StatusView {
  state:
    'connecting' | 'saved' | 'saving' | 'connected' | 'reconnecting' | 'offline' | 'unsynced' | 'denied' | 'too-large'
  label: string
  detail: string
}

export function describeStatus(f: StatusFacts): StatusView {
  if (f.link === 'denied') {
    return { state: 'denied', label: 'No access', detail: 'You no longer have access to this document.' }
  }
  if (f.link === 'signed-out') {
    return { state: 'denied', label: 'Signed out', detail: 'Log in again to keep editing.' }
  }
  if (f.tooLarge) {
    return { state: 'too-large', label: 'Not saved', detail: tooLargeDetail(f.tooLarge) }
  }
  const unsaved = f.unsent || f.pending > 0
  if (f.link !== 'connected' || !f.synced) {
    if (!f.online) {
      return unsaved
        ? {
            state: 'unsynced',
            label: 'Offline · unsynced changes',
            detail: 'Keep typing: your changes are kept here and merge when you are back online.',
          }
        : { state: 'offline', label: 'Offline', detail: 'Waiting for the network to come back.' }
    }
    if (unsaved) {
      return {
        state: 'unsynced',
        label: 'Reconnecting · unsynced changes',
        detail: 'Keep typing: your changes are kept here and merge once Tandem answers again.',
      }
    }
    return f.everConnected
      ? { state: 'reconnecting', label: 'Reconnecting…', detail: 'The connection dropped; trying again.' }
      : { state: 'connecting', label: 'Connecting…', detail: 'Opening the document.' }
  }
  if (f.readOnly) {
    return { state: 'connected', label: 'Connected', detail: 'Live. You are viewing this document.' }
  }
  if (unsaved) {
    return {
      state: 'saving',
      label: 'Saving…',
      detail: `Waiting for the server to store ${f.pending || 'your'} change${f.pending === 1 ? '' : 's'}.`,
    }
  }
  if (!f.supported) {
    return { state: 'connected', label: 'Connected', detail: 'Live. This server does not confirm saves.' }
  }
  return { state: 'saved', label: 'Saved', detail: 'Every change you made is stored on the server.' }
}

function tooLargeDetail({ what, limit }: TooLarge): string {
  const size = limit === null ? '' : ` (the limit is ${formatBytes(limit)})`
  const refused =
    what === 'change'
      ? `Your last change is too large to save${size}.`
      : `Your last change would make the document too large to save${size}.`
  return `${refused} Your text is still here in this tab, but it is not saved: copy it somewhere safe, then reload to continue from the last saved version.`
}

/** What a close says about a refused size, or null when the close is about something else. */
export function tooLargeFrom(code: number, reason: string): TooLarge | null {
  if (code !== MESSAGE_TOO_BIG && code !== DOCUMENT_TOO_LARGE) return null
  // Servers word the reason freely but end it with the limit ("... limit of 33554432 bytes").
  const sizes = [...reason.matchAll(/(\d+) ?bytes/gi)]
  const limit = sizes.length ? Number(sizes[sizes.length - 1][1]) : null
  return { what: code === MESSAGE_TOO_BIG ? 'change' : 'document', limit }
}

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 || value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`
}
