/** The History button and panel: a version previews in place of the text; an open panel follows new changes. */

import type * as Y from 'yjs'

import { h, icon } from '../dom'
import { historyPanel, type HistoryPanel } from '../ui/historyPanel'
import { ICONS } from '../ui/icons'

export interface EditorHistory {
  button: HTMLElement
  panel: HistoryPanel
  /** Whether a version's preview stands in for the text. */
  previewing(): boolean
  destroy(): void
}

/** `content` holds `surface` (the live text); `tools` hides while a preview shows. */
export function editorHistory(
  documentId: string,
  doc: Y.Doc,
  page: { root: HTMLElement; content: HTMLElement; surface: HTMLElement; tools: HTMLElement; canEdit: () => boolean },
): EditorHistory {
  const { root, content, surface, tools, canEdit } = page
  const button = h(
    'button',
    {
      type: 'button',
      class: 'button',
      'aria-label': 'History',
      'aria-expanded': 'false',
      'aria-controls': 'history-panel',
    },
    icon(ICONS.history),
    h('span', { class: 'label' }, 'History'),
  )
  const panel = historyPanel(documentId, {
    canRestore: canEdit,
    showPreview: (node) => {
      surface.hidden = node !== null
      tools.hidden = node !== null || !canEdit()
      content.querySelector('.preview')?.remove()
      if (node) content.prepend(node)
    },
    onToggle: (open) => {
      button.setAttribute('aria-expanded', String(open))
      root.classList.toggle('history-open', open)
      if (!open) button.focus()
    },
  })
  panel.element.id = 'history-panel'
  button.addEventListener('click', () => (panel.isOpen ? panel.close() : panel.open()))

  // An open history panel follows new changes (a quiet second after the last one).
  let timer: ReturnType<typeof setTimeout> | undefined
  const onDocUpdate = (): void => {
    if (!panel.isOpen) return
    clearTimeout(timer)
    timer = setTimeout(() => panel.refresh(), 1500)
  }
  doc.on('update', onDocUpdate)
  return {
    button,
    panel,
    previewing: () => content.querySelector('.preview') !== null,
    destroy() {
      clearTimeout(timer)
      doc.off('update', onDocUpdate)
      panel.destroy()
    },
  }
}
