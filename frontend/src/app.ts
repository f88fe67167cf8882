/** The single-page app: the page for the current route, and the links, history and sign-out that change it. */

import { replaceChildren } from './dom'
import { authPage } from './pages/auth'
import { documentsPage } from './pages/documents'
import { editorPage } from './pages/editor'
import { startNotifications } from './notifications/hub'
import { startNotificationToasts } from './notifications/toasts'
import { notFoundPage } from './pages/notFound'
import type { Page } from './pages/page'
import { match, navigate, setNavigator, type Route } from './router'
import { onSessionChange, session } from './session'

let root: HTMLElement
let page: Page | null = null
let navigated = false

/** Show the app in `root` and keep it on the page the address names. */
export function startApp(element: HTMLElement): void {
  root = element
  setNavigator((path, options) => {
    if (path === location.pathname + location.search) return render()
    if (options?.replace) history.replaceState(null, '', path)
    else history.pushState(null, '', path)
    render()
  })
  document.addEventListener('click', followLink)
  window.addEventListener('popstate', render)
  // Signed out (refresh refused, or another tab): back to the login page.
  onSessionChange((current) => {
    if (!current && needsSession(match(location.pathname, location.search))) render()
  })
  startNotificationToasts()
  startNotifications()
  render()
}

function needsSession(route: Route): boolean {
  return route.name === 'documents' || route.name === 'editor'
}

/** Where to send someone who may not see `route` as they are (signed in or out), or null. */
function redirectFor(route: Route, signedIn: boolean): string | null {
  if (needsSession(route) && !signedIn) {
    const next = location.pathname + location.search
    return next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`
  }
  if ((route.name === 'login' || route.name === 'register') && signedIn) return route.next
  return null
}

function pageFor(route: Route): Page {
  switch (route.name) {
    case 'documents':
      return documentsPage()
    case 'editor':
      return editorPage(route.id)
    case 'login':
    case 'register':
      return authPage(route.name, route.next)
    default:
      return notFoundPage()
  }
}

function render(): void {
  const route = match(location.pathname, location.search)
  page?.destroy?.()
  page = null
  const redirect = redirectFor(route, session() !== null)
  if (redirect !== null) {
    navigate(redirect, { replace: true })
    return
  }
  page = pageFor(route)
  show(page)
}

function show(current: Page): void {
  document.title = current.title ? `${current.title} · Tandem` : 'Tandem'
  replaceChildren(root, current.element)
  // Move focus to the new page (its first field, or its heading) so keyboard and screen
  // reader users start there; not on the first load.
  const field = current.element.querySelector<HTMLElement>('[autofocus]')
  if (field) field.focus()
  else if (navigated) {
    const heading = current.element.querySelector<HTMLElement>('h1')
    heading?.setAttribute('tabindex', '-1')
    heading?.focus({ preventScroll: true })
  }
  navigated = true
}

/** Same-origin links marked data-link navigate without reloading. */
function followLink(event: MouseEvent): void {
  const target = event.target as Element | null
  const link = target?.closest?.('a[data-link]') as HTMLAnchorElement | null
  if (
    !link ||
    event.defaultPrevented ||
    event.button !== 0 ||
    event.metaKey ||
    event.ctrlKey ||
    event.shiftKey ||
    event.altKey
  )
    return
  event.preventDefault()
  navigate(link.getAttribute('href') ?? '/')
}
