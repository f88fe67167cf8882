/** When the editor stops for good, and the banner that says so with what to do next. */

import type { Editor } from '@tiptap/core'

import { h, icon, replaceChildren } from '../dom'
import type { StatusFacts } from '../status'
import { ICONS } from '../ui/icons'
import { toast } from '../ui/toast'

export type Ending = 'access-ended' | 'too-large'

export interface EndedBanner {
  element: HTMLElement
  show(message: string, actions: HTMLElement[]): void
}

/** Why the editor must stop for good, or null while it can go on. */
export function endingFor(facts: StatusFacts): Ending | null {
  // Access revoked, document deleted or session over: keep the text on screen, stop editing.
  if (facts.link === 'denied' || facts.link === 'signed-out') return 'access-ended'
  // The server refused a change as too large: the text stays here to be copied, unsaved.
  if (facts.tooLarge) return 'too-large'
  return null
}

/** What the banner offers: a way out, or copying the unsaved text and reloading. */
export function endingActions(ending: Ending, editor: Editor): HTMLElement[] {
  if (ending === 'access-ended') return [h('a', { href: '/', 'data-link': true }, 'Back to your documents')]
  return [
    h('button', { type: 'button', class: 'button', onclick: () => void copyText(editor) }, 'Copy the text'),
    h('button', { type: 'button', class: 'button', onclick: () => location.reload() }, 'Reload'),
  ]
}

export function endedBanner(): EndedBanner {
  const element = h('p', { class: 'banner ended', role: 'alert', hidden: true })
  const show = (message: string, actions: HTMLElement[]): void => {
    element.hidden = false
    replaceChildren(
      element,
      icon(ICONS.lock),
      h('span', {}, message, ' '),
      h('span', { class: 'banner-actions' }, actions),
    )
  }
  return { element, show }
}

/** Both kinds, so a paste back into an editor keeps the headings and lists. */
async function copyText(editor: Editor): Promise<void> {
  try {
    await navigator.clipboard.write([
      new ClipboardItem({
        'text/html': new Blob([editor.getHTML()], { type: 'text/html' }),
        'text/plain': new Blob([editor.getText({ blockSeparator: '\n\n' })], { type: 'text/plain' }),
      }),
    ])
    toast('Copied. Paste it somewhere safe before you reload.')
  } catch {
    window.getSelection()?.selectAllChildren(editor.view.dom)
    toast('The text is selected: press Ctrl+C (⌘C on a Mac) to copy it.')
  }
}
