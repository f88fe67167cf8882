/** The formatting toolbar: one roving-tabindex toolbar (WAI-ARIA), state from the editor. */

import type { Editor } from '@tiptap/core'

import { h, icon } from '../dom'
import { ICONS } from './icons'

interface Tool {
  label: string
  shortcut?: string
  content: Node | string
  run(editor: Editor): void
  active?(editor: Editor): boolean
  enabled?(editor: Editor): boolean
}

export interface Toolbar {
  element: HTMLElement
  update(): void
}

export function toolbar(editor: Editor, editLink: () => void): Toolbar {
  const tools: (Tool | 'sep')[] = [
    {
      label: 'Heading 1',
      content: 'H1',
      run: (e) => e.chain().focus().toggleHeading({ level: 1 }).run(),
      active: (e) => e.isActive('heading', { level: 1 }),
    },
    {
      label: 'Heading 2',
      content: 'H2',
      run: (e) => e.chain().focus().toggleHeading({ level: 2 }).run(),
      active: (e) => e.isActive('heading', { level: 2 }),
    },
    {
      label: 'Heading 3',
      content: 'H3',
      run: (e) => e.chain().focus().toggleHeading({ level: 3 }).run(),
      active: (e) => e.isActive('heading', { level: 3 }),
    },
    'sep',
    {
      label: 'Bold',
      shortcut: 'Ctrl+B',
      content: icon(ICONS.bold),
      run: (e) => e.chain().focus().toggleBold().run(),
      active: (e) => e.isActive('bold'),
    },
    {
      label: 'Italic',
      shortcut: 'Ctrl+I',
      content: icon(ICONS.italic),
      run: (e) => e.chain().focus().toggleItalic().run(),
      active: (e) => e.isActive('italic'),
    },
    {
      label: 'Link',
      shortcut: 'Ctrl+K',
      content: icon(ICONS.link),
      run: () => editLink(),
      active: (e) => e.isActive('link'),
    },
    'sep',
    {
      label: 'Bulleted list',
      content: icon(ICONS.bullet),
      run: (e) => e.chain().focus().toggleBulletList().run(),
      active: (e) => e.isActive('bulletList'),
    },
    {
      label: 'Numbered list',
      content: icon(ICONS.ordered),
      run: (e) => e.chain().focus().toggleOrderedList().run(),
      active: (e) => e.isActive('orderedList'),
    },
    'sep',
    {
      label: 'Undo',
      shortcut: 'Ctrl+Z',
      content: icon(ICONS.undo),
      run: (e) => e.chain().focus().undo().run(),
      enabled: (e) => e.can().undo(),
    },
    {
      label: 'Redo',
      shortcut: 'Ctrl+Shift+Z',
      content: icon(ICONS.redo),
      run: (e) => e.chain().focus().redo().run(),
      enabled: (e) => e.can().redo(),
    },
  ]
  const buttons: [Tool, HTMLButtonElement][] = []
  const element = h('div', {
    class: 'toolbar',
    role: 'toolbar',
    'aria-label': 'Formatting',
    'aria-controls': 'editor-text',
  })
  for (const tool of tools) {
    if (tool === 'sep') {
      element.append(h('span', { class: 'toolbar-sep', role: 'separator', 'aria-orientation': 'vertical' }))
      continue
    }
    const button = h(
      'button',
      {
        type: 'button',
        class: 'tool',
        tabindex: buttons.length === 0 ? 0 : -1,
        'aria-label': tool.label,
        title: tool.shortcut ? `${tool.label} (${tool.shortcut})` : tool.label,
        'aria-keyshortcuts': tool.shortcut?.replace('Ctrl', 'Control'),
        'aria-pressed': tool.active ? 'false' : undefined,
        // Keep the editor's selection: act on mousedown without taking focus.
        onmousedown: (event: MouseEvent) => event.preventDefault(),
        onclick: () => tool.run(editor),
      },
      tool.content,
    )
    buttons.push([tool, button])
    element.append(button)
  }
  element.addEventListener('keydown', (event) => {
    const index = buttons.findIndex(([, b]) => b === document.activeElement)
    if (index < 0) return
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0
    let next: number
    if (step) next = (index + step + buttons.length) % buttons.length
    else if (event.key === 'Home') next = 0
    else if (event.key === 'End') next = buttons.length - 1
    else return
    event.preventDefault()
    buttons[index][1].tabIndex = -1
    buttons[next][1].tabIndex = 0
    buttons[next][1].focus()
  })
  const update = (): void => {
    for (const [tool, button] of buttons) {
      if (tool.active) button.setAttribute('aria-pressed', String(tool.active(editor)))
      if (tool.enabled) button.disabled = !editor.isEditable || !tool.enabled(editor)
      else button.disabled = !editor.isEditable
    }
  }
  editor.on('transaction', update)
  update()
  return { element, update }
}
