/**
 * `@` in the editor offers the document's members; choosing one inserts TipTap's mention node
 * (name `mention`, attributes id = label = username). The server finds these nodes in the
 * `default` fragment when the update commits and notifies the person mentioned.
 */

import Mention from '@tiptap/extension-mention'
import type { SuggestionKeyDownProps, SuggestionProps } from '@tiptap/suggestion'

import { api, type Member } from '../api'
import { h, replaceChildren } from '../dom'
import { avatar } from '../ui/avatar'
import { matchMembers, moveHighlight } from './mentionMatch'

/** Members are re-read at most this often while someone types mentions. */
const MEMBERS_TTL_MS = 30_000

export type MemberSource = (query: string) => Promise<string[]>

/** The names to offer for a query: the document's members but `me`, read over REST (cached briefly). */
export function mentionMembers(documentId: string, me: string): MemberSource {
  let cached: { at: number; members: Member[] } | null = null
  return async (query) => {
    if (!cached || Date.now() - cached.at > MEMBERS_TTL_MS) {
      try {
        cached = { at: Date.now(), members: await api.members(documentId) }
      } catch {
        cached = cached ?? { at: 0, members: [] }
      }
    }
    return matchMembers(cached.members, query, me)
  }
}

type Item = { id: string; label: string }

/** The small list under the caret: arrow keys move, Enter or Tab picks, Escape closes. */
function suggestionList(): {
  onStart(props: SuggestionProps<Item, Item>): void
  onUpdate(props: SuggestionProps<Item, Item>): void
  onKeyDown(props: SuggestionKeyDownProps): boolean
  onExit(): void
} {
  const list = h('ul', { class: 'mention-list', role: 'listbox', 'aria-label': 'Mention someone' })
  let props: SuggestionProps<Item, Item> | null = null
  let index = 0

  const pick = (i: number): void => {
    const item = props?.items[i]
    if (item && props) props.command(item)
  }
  const render = (): void => {
    const items = props?.items ?? []
    replaceChildren(
      list,
      items.length
        ? items.map((item, i) =>
            h(
              'li',
              {
                class: 'mention-option',
                role: 'option',
                'aria-selected': String(i === index),
                'data-username': item.id,
                // mousedown, not click: the editor keeps its focus and selection.
                onmousedown: (event: MouseEvent) => {
                  event.preventDefault()
                  pick(i)
                },
              },
              avatar(item.label),
              h('span', {}, item.label),
            ),
          )
        : h('li', { class: 'mention-empty' }, 'No member by that name'),
    )
    const rect = props?.clientRect?.()
    if (rect) {
      list.style.left = `${Math.max(8, Math.min(rect.left, window.innerWidth - 200))}px`
      list.style.top = `${rect.bottom + 4}px`
    }
  }
  return {
    onStart(next) {
      props = next
      index = 0
      document.body.appendChild(list)
      render()
    },
    onUpdate(next) {
      props = next
      index = Math.min(index, Math.max(0, next.items.length - 1))
      render()
    },
    onKeyDown({ event }) {
      const count = props?.items.length ?? 0
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        index = moveHighlight(index, count, event.key)
        render()
        return true
      }
      if (event.key === 'Enter' || event.key === 'Tab') {
        if (count === 0) return false
        pick(index)
        return true
      }
      if (event.key === 'Escape') {
        list.remove()
        return true
      }
      return false
    },
    onExit() {
      list.remove()
      props = null
    },
  }
}

/** TipTap's Mention, offering what `members` finds for the typed query. */
export function mentionExtension(members: MemberSource) {
  return Mention.configure({
    HTMLAttributes: { class: 'mention' },
    suggestion: {
      char: '@',
      items: async ({ query }): Promise<Item[]> => (await members(query)).map((name) => ({ id: name, label: name })),
      render: suggestionList,
    },
  })
}
