/**
 * The person's role and the document's title as they change under the editor: the server's
 * permission-denied message (its role dropped to viewer, sent within a second of the change)
 * and the user's notifications for this document (role changed, renamed, removed, deleted).
 */

import { ApiError, api, type Role } from '../api'
import type { DocumentConnection } from '../connection'
import { notifications } from '../notifications/hub'
import { describeNotification, type Notification } from '../notifications/model'
import type { EditorState } from './state'

export interface RoleWatch {
  /** The server refused writes from now on: read-only at once, then confirm over REST. */
  denied(): void
  /** Re-read the role and title over REST. */
  refresh(): Promise<void>
  destroy(): void
}

export interface RoleEvents {
  roleChanged(): void
  titleChanged(): void
  /** Access ended: removed from the document, or it was deleted (`message` says which, and who). */
  gone(message: string): void
}

export function watchRoles(state: EditorState, connection: DocumentConnection, on: RoleEvents): RoleWatch {
  const setRole = (role: Role): void => {
    if (role === state.role) return
    const before = state.role
    state.role = role
    on.roleChanged()
    // Writes refused while we were a viewer are resent by a fresh sync on a new socket.
    if (before === 'viewer' && role !== 'viewer') void connection.reconnect()
  }

  const refresh = async (): Promise<void> => {
    try {
      const row = await api.document(state.documentId)
      if (row.title !== state.title) {
        state.title = row.title
        on.titleChanged()
      }
      setRole(row.role)
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) connection.revoked()
    }
  }

  const denied = (): void => {
    if (state.role !== 'viewer') {
      state.role = 'viewer'
      on.roleChanged()
    }
    void refresh()
  }

  const follow = (n: Notification): void => {
    if (n.document?.id !== state.documentId) return
    switch (n.type) {
      case 'member.role_changed':
        if (n.data.role === 'editor' || n.data.role === 'viewer') setRole(n.data.role)
        break
      case 'document.renamed':
        state.title = n.document.title
        on.titleChanged()
        break
      case 'member.removed':
        on.gone(`${describeNotification(n)} You no longer have access to this document.`)
        break
      case 'document.deleted':
        on.gone(`${describeNotification(n)} It no longer exists; the text stays here until you leave.`)
        break
    }
  }
  const stop = notifications.subscribe((event) => {
    if (event.kind === 'notification') follow(event.notification)
  })

  return { denied, refresh, destroy: stop }
}
