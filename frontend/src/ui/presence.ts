/** Who is here: the people whose awareness states the document carries, one avatar each. */

import type { Awareness } from 'y-protocols/awareness'

import { h, replaceChildren } from '../dom'
import { avatar } from './topbar'

export interface Person {
  name: string
  color: string
  self: boolean
}

/** One entry per name (a person with two tabs is here once), yourself first. */
export function peopleFrom(states: Map<number, Record<string, unknown>>, selfId: number): Person[] {
  const byName = new Map<string, Person>()
  for (const [clientId, state] of states) {
    const user = state.user as { name?: unknown; color?: unknown } | undefined
    if (!user || typeof user.name !== 'string' || !user.name) continue
    const self = clientId === selfId
    const known = byName.get(user.name)
    if (!known || self) byName.set(user.name, { name: user.name, color: String(user.color ?? ''), self: self || Boolean(known?.self) })
  }
  return [...byName.values()].sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name))
}

export function presenceBar(awareness: Awareness): { element: HTMLElement; destroy(): void } {
  const list = h('ul', { class: 'presence', 'aria-label': 'People here' })
  const render = (): void => {
    const people = peopleFrom(awareness.getStates() as Map<number, Record<string, unknown>>, awareness.clientID)
    replaceChildren(list, people.map((person) => {
      const label = person.self ? `${person.name} (you)` : person.name
      return h('li', { class: 'presence-person', title: label, 'data-name': person.name },
        avatar(person.name), h('span', { class: 'sr-only' }, label))
    }))
  }
  awareness.on('change', render)
  render()
  return { element: list, destroy: () => awareness.off('change', render) }
}
