/** The editor page's parts around the text, and how the person's role and an ending show on them. */

import type { Editor } from '@tiptap/core'

import type { DocumentConnection } from '../connection'
import { h, icon, replaceChildren } from '../dom'
import { ICONS } from '../ui/icons'
import { roleBadge } from '../ui/roleBadge'
import { openShareDialog } from '../ui/share'
import { toolbar, type Toolbar } from '../ui/toolbar'
import { accountMenu } from '../ui/topbar'
import { endedBanner, type EndedBanner } from './endedBanner'
import { editorHistory, type EditorHistory } from './history'
import { editLink } from './linkDialog'
import { canEdit, type EditorState } from './state'
import type { StatusPill } from './statusPill'
import { titleField, type TitleField } from './titleField'

export interface EditorParts {
  root: HTMLElement
  state: EditorState
  connection: DocumentConnection
  editor: Editor
  tools: Toolbar
  title: TitleField
  badgeSlot: HTMLElement
  shareButton: HTMLElement
  /** "View only…", for viewers. */
  viewOnly: HTMLElement
  ended: EndedBanner
  content: HTMLElement
  history: EditorHistory
}

/** The others hear of a share or a rename through their notifications (the server sends them). */
export function editorParts(
  root: HTMLElement,
  state: EditorState,
  connection: DocumentConnection,
  text: { editor: Editor; surface: HTMLElement },
): EditorParts {
  const { editor, surface } = text
  const tools = toolbar(editor, () => editLink(editor))
  const content = h('div', { class: 'editor-content' }, surface)
  return {
    root,
    state,
    connection,
    editor,
    tools,
    title: titleField(state, { focusEditor: () => editor.commands.focus() }),
    badgeSlot: h('span', { class: 'badge-slot' }),
    shareButton: h(
      'button',
      {
        type: 'button',
        class: 'button',
        'aria-label': 'Share',
        onclick: () => openShareDialog(state.documentId, state.title),
      },
      icon(ICONS.share),
      h('span', { class: 'label' }, 'Share'),
    ),
    viewOnly: h(
      'p',
      { class: 'banner', role: 'note' },
      icon(ICONS.lock),
      h('span', {}, `View only. You can read along and others see your cursor; ask ${state.owner} for edit access.`),
    ),
    ended: endedBanner(),
    content,
    history: editorHistory(state.documentId, connection.doc, {
      root,
      content,
      surface,
      tools: tools.element,
      canEdit: () => canEdit(state),
    }),
  }
}

/** Header and body, in `root`. */
export function layoutEditor(parts: EditorParts, status: StatusPill, presence: HTMLElement): void {
  const { title, history } = parts
  const header = h(
    'header',
    { class: 'topbar editor-topbar' },
    h(
      'a',
      {
        href: '/',
        class: 'icon-button back',
        'data-link': true,
        'aria-label': 'All documents',
        title: 'All documents',
      },
      icon(ICONS.back),
    ),
    h(
      'div',
      { class: 'doc-heading' },
      h('h1', { class: 'sr-only' }, parts.state.title),
      title.input,
      title.text,
      parts.badgeSlot,
    ),
    h(
      'div',
      { class: 'editor-actions' },
      status.element,
      status.announcer,
      presence,
      history.button,
      parts.shareButton,
    ),
    accountMenu(),
  )
  replaceChildren(
    parts.root,
    header,
    h(
      'div',
      { class: 'editor-body' },
      h('main', { class: 'editor-main' }, parts.ended.element, parts.viewOnly, parts.tools.element, parts.content),
      history.panel.element,
    ),
  )
}

/** Show what the person's role lets them do: edit, rename, share, or only read along. */
export function showRole(parts: EditorParts): void {
  const { state } = parts
  if (state.ended) return
  parts.editor.setEditable(canEdit(state))
  replaceChildren(parts.badgeSlot, roleBadge(state.role))
  parts.title.show(canEdit(state))
  parts.tools.element.hidden = !canEdit(state) || parts.history.previewing()
  parts.viewOnly.hidden = canEdit(state)
  parts.shareButton.hidden = state.role !== 'owner'
  parts.connection.setReadOnly(!canEdit(state))
  parts.tools.update()
  parts.root.dataset.role = state.role
}

/** Stop editing for good: the text stays on screen, the banner says why and what to do. */
export function lockEditor(parts: EditorParts, message: string, actions: HTMLElement[]): void {
  parts.editor.setEditable(false)
  parts.tools.element.hidden = true
  parts.viewOnly.hidden = true
  parts.history.button.hidden = true
  parts.shareButton.hidden = true
  parts.badgeSlot.hidden = true
  if (parts.history.panel.isOpen) parts.history.panel.close()
  parts.ended.show(message, actions)
}
