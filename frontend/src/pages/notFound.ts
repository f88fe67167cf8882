/** The page for an address no route matches. */

import { h } from '../dom'
import type { Page } from './page'

export function notFoundPage(): Page {
  return {
    title: 'Not found',
    element: h(
      'main',
      { class: 'centered' },
      h(
        'div',
        { class: 'card narrow' },
        h('h1', {}, 'Page not found'),
        h('p', { class: 'muted' }, 'There is nothing at this address.'),
        h('a', { href: '/', class: 'button primary', 'data-link': true }, 'Go to your documents'),
      ),
    ),
  }
}
