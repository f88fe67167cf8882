/** The dialog that adds, edits or removes the link at the selection. */

import type { Editor } from '@tiptap/core'

import { h } from '../dom'
import { safeHref } from '../links'
import { dialog } from '../ui/dialog'

export function editLink(editor: Editor): void {
  if (!editor.isEditable) return
  const current = (editor.getAttributes('link').href as string | undefined) ?? ''
  const d = dialog(current ? 'Edit link' : 'Add link', { onClose: () => editor.commands.focus() })
  const input = h('input', {
    id: 'link-href',
    type: 'url',
    value: current,
    placeholder: 'https://example.com',
    autofocus: true,
  })
  d.body.append(
    h(
      'form',
      {
        class: 'stack',
        onsubmit: (event: Event) => {
          event.preventDefault()
          const href = safeHref(input.value)
          const chain = editor.chain().focus().extendMarkRange('link')
          if (!href) chain.unsetLink().run()
          else if (editor.state.selection.empty && !current)
            chain.insertContent({ type: 'text', text: href, marks: [{ type: 'link', attrs: { href } }] }).run()
          else chain.setLink({ href }).run()
          d.close()
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'link-href' }, 'Link address'), input),
      h(
        'div',
        { class: 'dialog-actions' },
        current
          ? h(
              'button',
              {
                type: 'button',
                class: 'button',
                onclick: () => {
                  editor.chain().focus().extendMarkRange('link').unsetLink().run()
                  d.close()
                },
              },
              'Remove link',
            )
          : null,
        h('button', { type: 'button', class: 'button', onclick: () => d.close() }, 'Cancel'),
        h('button', { type: 'submit', class: 'button primary' }, 'Apply'),
      ),
    ),
  )
  d.open()
}
