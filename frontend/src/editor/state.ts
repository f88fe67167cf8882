/** What the editor page knows of the document and of the person's access to it, as both change. */

import type { Role } from '../api'

export interface EditorState {
  readonly documentId: string
  readonly owner: string
  role: Role
  title: string
  /** Access ended, or the server refused a change as too large: read-only for good. */
  ended: boolean
}

export function canEdit(state: EditorState): boolean {
  return state.role !== 'viewer'
}
