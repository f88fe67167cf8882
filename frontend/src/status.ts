/** What the status pill says, from the connection's facts. Pure, so it is unit-tested. */

export type Link = 'connecting' | 'connected' | 'disconnected' | 'denied' | 'signed-out'

export interface StatusFacts {
  link: Link
  synced: boolean
  everConnected: boolean
  online: boolean
  readOnly: boolean
  supported: boolean
  pending: number
  unsent: boolean
}

export interface StatusView {
  state: 'connecting' | 'saved' | 'saving' | 'connected' | 'reconnecting' | 'offline' | 'unsynced' | 'denied'
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
  const unsaved = f.unsent || f.pending > 0
  if (f.link !== 'connected' || !f.synced) {
    if (!f.online) {
      return unsaved
        ? { state: 'unsynced', label: 'Offline · unsynced changes', detail: 'Keep typing: your changes are kept here and merge when you are back online.' }
        : { state: 'offline', label: 'Offline', detail: 'Waiting for the network to come back.' }
    }
    if (unsaved) {
      return { state: 'unsynced', label: 'Reconnecting · unsynced changes', detail: 'Keep typing: your changes are kept here and merge once Tandem answers again.' }
    }
    return f.everConnected
      ? { state: 'reconnecting', label: 'Reconnecting…', detail: 'The connection dropped; trying again.' }
      : { state: 'connecting', label: 'Connecting…', detail: 'Opening the document.' }
  }
  if (f.readOnly) {
    return { state: 'connected', label: 'Connected', detail: 'Live. You are viewing this document.' }
  }
  if (unsaved) {
    return { state: 'saving', label: 'Saving…', detail: `Waiting for the server to store ${f.pending || 'your'} change${f.pending === 1 ? '' : 's'}.` }
  }
  if (!f.supported) {
    return { state: 'connected', label: 'Connected', detail: 'Live. This server does not confirm saves.' }
  }
  return { state: 'saved', label: 'Saved', detail: 'Every change you made is stored on the server.' }
}
