/** The editor at /d/<id>: TipTap on the shared Y.XmlFragment "default", live over y-websocket. */

import { ApiError, api, type DocumentRow } from '../api'
import { DocumentConnection } from '../connection'
import { h, replaceChildren } from '../dom'
import { endingActions, endingFor } from '../editor/endedBanner'
import { mentionMembers } from '../editor/mentions'
import { editorParts, layoutEditor, lockEditor, showRole } from '../editor/parts'
import { watchRoles } from '../editor/roles'
import { canEdit, type EditorState } from '../editor/state'
import { statusPill } from '../editor/statusPill'
import { textEditor } from '../editor/textEditor'
import { accessToken, session } from '../session'
import { describeStatus, type StatusFacts } from '../status'
import { presenceBar } from '../ui/presence'
import type { Page } from './page'

export function editorPage(documentId: string): Page {
  const element = h(
    'div',
    { class: 'shell editor-shell' },
    h('main', { class: 'centered' }, h('p', { class: 'muted loading', role: 'status' }, 'Opening the document…')),
  )
  let teardown: (() => void) | null = null
  let destroyed = false

  void (async () => {
    let doc: DocumentRow
    try {
      doc = await api.document(documentId)
    } catch (e) {
      if (!destroyed) replaceChildren(element, openFailed(e))
      return
    }
    const token = await accessToken()
    if (destroyed || !token) return
    teardown = mountEditor(element, doc, token)
  })()

  return {
    title: 'Document',
    element,
    destroy() {
      destroyed = true
      teardown?.()
    },
  }
}

/** What the page says when the document cannot be read. */
function openFailed(e: unknown): HTMLElement {
  const missing = e instanceof ApiError && e.status === 404
  return h(
    'main',
    { class: 'centered' },
    h(
      'div',
      { class: 'card narrow' },
      h('h1', {}, missing ? 'Document not found' : 'Could not open the document'),
      h(
        'p',
        { class: 'muted' },
        missing ? 'It does not exist, or it has not been shared with you.' : e instanceof Error ? e.message : '',
      ),
      h('a', { href: '/', class: 'button primary', 'data-link': true }, 'Back to your documents'),
    ),
  )
}

/** The live editor for `doc` in `root`; returns what takes it down. */
function mountEditor(root: HTMLElement, doc: DocumentRow, token: string): () => void {
  const state: EditorState = { documentId: doc.id, owner: doc.owner, role: doc.role, title: doc.title, ended: false }
  document.title = `${state.title} · Tandem`
  const status = statusPill()
  /** Why access ended, when a notification said (removed, or deleted, and by whom). */
  let goneMessage: string | null = null
  const showStatus = (facts: StatusFacts): void => {
    const view = describeStatus(facts)
    const ending = state.ended ? null : endingFor(facts)
    if (ending) {
      state.ended = true
      lockEditor(parts, goneMessage ?? view.detail, endingActions(ending, parts.editor))
    }
    status.show(view)
  }
  const connection = new DocumentConnection(doc.id, token, {
    change: showStatus,
    denied: () => roles.denied(),
  })
  const me = session()?.username ?? 'Someone'
  const text = textEditor(connection, me, () => canEdit(state), mentionMembers(doc.id, me))
  const presence = presenceBar(connection.provider.awareness)
  const parts = editorParts(root, state, connection, text)
  const roles = watchRoles(state, connection, {
    roleChanged: () => showRole(parts),
    titleChanged: () => parts.title.follow(),
    gone: (message) => {
      goneMessage = message
      // The server closes the socket with 4404 too; whichever comes first ends the editor.
      if (state.ended) parts.ended.show(message, endingActions('access-ended', parts.editor))
      else connection.revoked()
    },
  })
  layoutEditor(parts, status, presence.element)
  showRole(parts)
  showStatus(connection.facts())

  return () => {
    roles.destroy()
    parts.history.destroy()
    presence.destroy()
    text.editor.destroy()
    connection.destroy()
  }
}
