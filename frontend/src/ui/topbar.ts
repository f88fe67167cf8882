import { h, icon } from '../dom'
import { navigate } from '../router'
import { session, signOut } from '../session'
import { avatar } from './avatar'
import { notificationBell } from './bell'
import { brand } from './brand'
import { ICONS } from './icons'

export function accountMenu(): HTMLElement {
  const name = session()?.username ?? ''
  return h(
    'div',
    { class: 'account' },
    notificationBell(),
    avatar(name),
    h('span', { class: 'account-name' }, name),
    h(
      'button',
      {
        type: 'button',
        class: 'icon-button',
        'aria-label': 'Log out',
        title: 'Log out',
        onclick: () => {
          signOut()
          navigate('/login')
        },
      },
      icon(ICONS.logout),
    ),
  )
}

export function topbar(...middle: (Node | null)[]): HTMLElement {
  return h('header', { class: 'topbar' }, brand(), h('div', { class: 'topbar-middle' }, ...middle), accountMenu())
}
