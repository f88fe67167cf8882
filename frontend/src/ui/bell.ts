/** The bell in the top bar: the unread count, and a panel listing the notifications, newest first. */

import { h, icon, replaceChildren } from '../dom'
import { notifications } from '../notifications/hub'
import { describeNotification, goneDocuments, linkFor, type Notification } from '../notifications/model'
import { exactTime, relativeTime } from '../time'
import { avatar } from './avatar'
import { ICONS } from './icons'
import { toast } from './toast'

let panels = 0

export function notificationBell(): HTMLElement {
  const panelId = `notifications-${++panels}`
  const count = h('span', { class: 'bell-count', hidden: true })
  const button = h(
    'button',
    {
      type: 'button',
      class: 'icon-button bell',
      'aria-label': 'Notifications',
      'aria-expanded': 'false',
      'aria-controls': panelId,
      title: 'Notifications',
    },
    icon(ICONS.bell),
    count,
  )
  const list = h('ul', { class: 'notification-list', 'aria-label': 'Notifications' })
  const markAll = h('button', { type: 'button', class: 'link-button' }, 'Mark all read')
  const older = h('button', { type: 'button', class: 'link-button', hidden: true }, 'Show older')
  const panel = h(
    'section',
    { id: panelId, class: 'notification-panel', 'aria-label': 'Notifications', hidden: true },
    h('header', { class: 'notification-head' }, h('h2', {}, 'Notifications'), markAll),
    list,
    older,
  )
  const root = h('div', { class: 'bell-wrap' }, button, panel)

  const fail = (e: unknown): void => toast(e instanceof Error ? e.message : 'Something went wrong.', 'error')
  const item = (n: Notification, gone: ReadonlySet<string>): HTMLElement => {
    const link = linkFor(n, gone)
    const body = [
      avatar(n.actor?.username ?? '?'),
      h(
        'span',
        { class: 'notification-text' },
        h('span', {}, describeNotification(n)),
        h('time', { datetime: n.created_at, title: exactTime(n.created_at) }, relativeTime(n.created_at)),
      ),
    ]
    const open = (): void => {
      if (!n.read) notifications.markRead([n.id]).catch(fail)
      if (link) close()
    }
    const target = link
      ? h('a', { href: link, 'data-link': true, class: 'notification-main', onclick: open }, body)
      : h('button', { type: 'button', class: 'notification-main', onclick: open }, body)
    return h(
      'li',
      { class: n.read ? 'notification' : 'notification unread', 'data-notification-id': n.id, 'data-type': n.type },
      target,
    )
  }

  const render = (): void => {
    const { items, unread } = notifications.state
    count.hidden = unread === 0
    count.textContent = unread > 99 ? '99+' : String(unread)
    button.setAttribute('aria-label', unread ? `Notifications, ${unread} unread` : 'Notifications')
    markAll.disabled = unread === 0
    root.dataset.live = notifications.live ?? ''
    older.hidden = !notifications.hasOlder
    if (panel.hidden) return
    const gone = goneDocuments(items)
    replaceChildren(
      list,
      items.length ? items.map((n) => item(n, gone)) : h('li', { class: 'muted notification-empty' }, 'Nothing yet.'),
    )
  }

  const onOutside = (event: MouseEvent): void => {
    if (!root.contains(event.target as Node)) close()
  }
  const onKey = (event: KeyboardEvent): void => {
    if (event.key === 'Escape') {
      close()
      button.focus()
    }
  }
  const open = (): void => {
    panel.hidden = false
    button.setAttribute('aria-expanded', 'true')
    document.addEventListener('mousedown', onOutside)
    document.addEventListener('keydown', onKey)
    render()
  }
  function close(): void {
    panel.hidden = true
    button.setAttribute('aria-expanded', 'false')
    document.removeEventListener('mousedown', onOutside)
    document.removeEventListener('keydown', onKey)
  }
  button.addEventListener('click', () => (panel.hidden ? open() : close()))
  markAll.addEventListener('click', () => notifications.markRead(null).catch(fail))
  older.addEventListener('click', () => notifications.loadOlder().catch(fail))

  // The bell lives as long as its page: it stops listening once it is off the page.
  const stop = notifications.subscribe((event) => {
    if (seen && !root.isConnected) {
      stop()
      close()
      return
    }
    if (event.kind === 'inbox') render()
  })
  let seen = false
  queueMicrotask(() => (seen = true))
  render()
  return root
}
