/**
 * Roles change under us when the owner shares: the owner's client stamps its awareness
 * state, everyone else re-reads their role (and a poll and window focus cover clients that
 * miss it, as does the server's permission-denied message).
 */

import { ApiError, api, type Role } from '../api'
import type { DocumentConnection } from '../connection'
import { toast } from '../ui/toast'
import type { EditorState } from './state'

const ROLE_POLL_MS = 30_000

export interface RoleWatch {
  /** Tell the others to re-read their roles (after a share, or a rename). */
  announce(): void
  /** Re-read the role and title over REST. */
  refresh(): Promise<void>
  destroy(): void
}

function roleName(role: Role): string {
  return role === 'viewer' ? 'a viewer' : role === 'editor' ? 'an editor' : 'the owner'
}

export function watchRoles(
  state: EditorState,
  connection: DocumentConnection,
  on: { roleChanged: () => void; titleChanged: () => void },
): RoleWatch {
  const awareness = connection.provider.awareness
  let roleStamp = 0
  const announce = (): void => {
    awareness.setLocalStateField('rolesChangedAt', Date.now())
  }
  const refresh = async (): Promise<void> => {
    try {
      const row = await api.document(state.documentId)
      state.title = row.title
      if (row.role !== state.role) {
        const before = state.role
        state.role = row.role
        on.roleChanged()
        toast(`You are now ${roleName(state.role)} of this document.`)
        // The server reads the role when a socket opens: a new one carries the new role.
        if ((before === 'viewer') !== (state.role === 'viewer')) void connection.reconnect()
      } else {
        on.titleChanged()
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) connection.revoked()
    }
  }
  const onAwareness = (): void => {
    let newest = roleStamp
    for (const [clientId, other] of awareness.getStates()) {
      const stamp = (other as { rolesChangedAt?: unknown }).rolesChangedAt
      if (clientId !== connection.doc.clientID && typeof stamp === 'number' && stamp > newest) newest = stamp
    }
    if (newest > roleStamp) {
      roleStamp = newest
      void refresh()
    }
  }
  awareness.on('change', onAwareness)
  const poll = setInterval(() => void refresh(), ROLE_POLL_MS)
  const onFocus = (): void => void refresh()
  window.addEventListener('focus', onFocus)
  return {
    announce,
    refresh,
    destroy() {
      clearInterval(poll)
      window.removeEventListener('focus', onFocus)
      awareness.off('change', onAwareness)
    },
  }
}
