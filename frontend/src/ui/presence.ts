/** Who is here: the people whose awareness states the document carries, one avatar each. */

import type { Awareness } from 'y-protocols/awareness'

import { h, replaceChildren } from '../dom'
import { peopleFrom } from '../people'
import { avatar } from './avatar'

export function presenceBar(awareness: Awareness): { element: HTMLElement; destroy(): void } {
  const list = h('ul', { class: 'presence', 'aria-label': 'People here' })
  const render = (): void => {
    const people = peopleFrom(awareness.getStates() as Map<number, Record<string, unknown>>, awareness.clientID)
    replaceChildren(
      list,
      people.map((person) => {
        const label = person.self ? `${person.name} (you)` : person.name
        return h(
          'li',
          { class: 'presence-person', title: label, 'data-name': person.name },
          avatar(person.name),
          h('span', { class: 'sr-only' }, label),
        )
      }),
    )
  }
  awareness.on('change', render)
  render()
  return { element: list, destroy: () => awareness.off('change', render) }
}
