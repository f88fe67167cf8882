/** A person's initials on their colour (the same colour as their caret and presence entry). */

import { colorFor, initials } from '../colors'
import { h } from '../dom'

export function avatar(name: string, extra: Record<string, unknown> = {}): HTMLElement {
  return h(
    'span',
    { class: 'avatar', style: `--person: ${colorFor(name)}`, 'aria-hidden': 'true', ...extra },
    initials(name),
  )
}
