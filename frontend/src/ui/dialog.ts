/** Modal dialogs on the native <dialog> element: focus trap, Escape and backdrop for free. */

import { h, icon } from '../dom'
import { ICONS } from './icons'

export interface Dialog {
  element: HTMLDialogElement
  body: HTMLElement
  open(): void
  close(): void
}

export function dialog(title: string, options: { wide?: boolean; onClose?: () => void } = {}): Dialog {
  const titleId = `dialog-${Math.random().toString(36).slice(2)}`
  const body = h('div', { class: 'dialog-body' })
  const element = h(
    'dialog',
    { class: options.wide ? 'dialog wide' : 'dialog', 'aria-labelledby': titleId },
    h(
      'header',
      { class: 'dialog-header' },
      h('h2', { id: titleId }, title),
      h(
        'button',
        { type: 'button', class: 'icon-button', 'aria-label': 'Close', onclick: () => element.close() },
        icon(ICONS.close),
      ),
    ),
    body,
  )
  element.addEventListener('click', (event) => {
    if (event.target === element) element.close()
  })
  element.addEventListener('close', () => {
    options.onClose?.()
    element.remove()
  })
  return {
    element,
    body,
    open() {
      document.body.appendChild(element)
      element.showModal()
    },
    close() {
      element.close()
    },
  }
}

/** Ask a yes/no question; resolves true when confirmed. */
export function confirmDialog(title: string, message: string, confirmLabel: string, danger = false): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = false
    const d = dialog(title, { onClose: () => resolve(answer) })
    d.body.append(
      h('p', {}, message),
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'button', onclick: () => d.close() }, 'Cancel'),
        h(
          'button',
          {
            type: 'button',
            class: danger ? 'button danger' : 'button primary',
            autofocus: true,
            onclick: () => {
              answer = true
              d.close()
            },
          },
          confirmLabel,
        ),
      ),
    )
    d.open()
  })
}
