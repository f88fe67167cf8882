/** TipTap on the shared Y.XmlFragment "default", with the others' carets; Ctrl+K edits a link. */

import { Editor } from '@tiptap/core'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { Placeholder } from '@tiptap/extensions'
import StarterKit from '@tiptap/starter-kit'

import { colorFor } from '../colors'
import type { DocumentConnection } from '../connection'
import { h } from '../dom'
import { editLink } from './linkDialog'
import { mentionExtension, type MemberSource } from './mentions'

/** Another person's caret with their name; hidden from screen readers (the presence list names them). */
function renderCaret(user: Record<string, unknown>): HTMLElement {
  const color = typeof user.color === 'string' && /^#[0-9a-f]{6}$/i.test(user.color) ? user.color : '#5b6472'
  return h(
    'span',
    { class: 'collaboration-carets__caret', style: `border-color: ${color}`, 'aria-hidden': 'true' },
    h('span', { class: 'collaboration-carets__label', style: `background-color: ${color}` }, String(user.name ?? '')),
  )
}

/** The editor for `name` on the connection's document, editable while `canEdit()` says so; `@` offers `members`. */
export function textEditor(
  connection: DocumentConnection,
  name: string,
  canEdit: () => boolean,
  members: MemberSource,
): { editor: Editor; surface: HTMLElement } {
  const surface = h('div', { class: 'paper' })
  const editor: Editor = new Editor({
    element: surface,
    editable: canEdit(),
    extensions: [
      StarterKit.configure({
        undoRedo: false,
        heading: { levels: [1, 2, 3] },
        link: { openOnClick: false, autolink: true, defaultProtocol: 'https', protocols: ['http', 'https', 'mailto'] },
      }),
      Placeholder.configure({ placeholder: () => (canEdit() ? 'Start writing…' : 'This document is empty.') }),
      Collaboration.configure({ document: connection.doc, field: 'default' }),
      CollaborationCaret.configure({
        provider: connection.provider,
        user: { name, color: colorFor(name) },
        render: renderCaret,
      }),
      mentionExtension(members),
    ],
    editorProps: {
      attributes: {
        id: 'editor-text',
        class: 'prose',
        'aria-label': 'Document text',
        'aria-multiline': 'true',
        role: 'textbox',
      },
      handleKeyDown: (_view, event) => {
        if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'k') {
          event.preventDefault()
          editLink(editor)
          return true
        }
        return false
      },
    },
  })
  return { editor, surface }
}
