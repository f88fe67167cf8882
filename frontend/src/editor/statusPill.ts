/** The connection's status pill, and a live region that tells screen readers when it changes. */

import { h } from '../dom'
import type { StatusView } from '../status'

export interface StatusPill {
  element: HTMLElement
  announcer: HTMLElement
  show(view: StatusView): void
}

/** Screen readers hear when the connection's kind of state changes, not every "Saving…". */
function kindOf(state: StatusView['state']): string {
  return ['saved', 'saving', 'connected'].includes(state) ? 'live' : state === 'unsynced' ? 'offline' : state
}

export function statusPill(): StatusPill {
  const element = h(
    'div',
    { class: 'status', 'data-state': 'connecting' },
    h('span', { class: 'status-dot', 'aria-hidden': 'true' }),
    h('span', { class: 'status-label' }, 'Connecting…'),
  )
  const announcer = h('span', { class: 'sr-only', role: 'status' })
  let announced = 'connecting'
  const show = (view: StatusView): void => {
    const kind = kindOf(view.state)
    if (kind !== announced) {
      if (announced !== 'connecting' || kind !== 'live') announcer.textContent = `${view.label}. ${view.detail}`
      announced = kind
    }
    element.dataset.state = view.state
    element.title = view.detail
    element.querySelector('.status-label')!.textContent = view.label
  }
  return { element, announcer, show }
}
