import './styles.css'

import { h, replaceChildren } from './dom'
import { match, navigate, setNavigator, type Route } from './router'
import { onSessionChange, session } from './session'
import { authPage } from './pages/auth'
import { documentsPage } from './pages/documents'
import { editorPage } from './pages/editor'

export interface Page {
  element: HTMLElement
  title: string
  destroy?(): void
}

const root = document.getElementById('app')!
let page: Page | null = null
let navigated = false

function render(): void {
  const route: Route = match(location.pathname, location.search)
  page?.destroy?.()
  page = null
  const signedIn = session() !== null
  if ((route.name === 'documents' || route.name === 'editor') && !signedIn) {
    const next = location.pathname + location.search
    navigate(next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`, { replace: true })
    return
  }
  if ((route.name === 'login' || route.name === 'register') && signedIn) {
    navigate(route.next, { replace: true })
    return
  }
  switch (route.name) {
    case 'documents':
      page = documentsPage()
      break
    case 'editor':
      page = editorPage(route.id)
      break
    case 'login':
    case 'register':
      page = authPage(route.name, route.next)
      break
    default:
      page = {
        title: 'Not found',
        element: h('main', { class: 'centered' },
          h('div', { class: 'card narrow' },
            h('h1', {}, 'Page not found'),
            h('p', { class: 'muted' }, 'There is nothing at this address.'),
            h('a', { href: '/', class: 'button primary', 'data-link': true }, 'Go to your documents'))),
      }
  }
  document.title = page.title ? `${page.title} · Tandem` : 'Tandem'
  replaceChildren(root, page.element)
  // Move focus to the new page (its first field, or its heading) so keyboard and screen
  // reader users start there; not on the first load.
  const field = page.element.querySelector<HTMLElement>('[autofocus]')
  if (field) field.focus()
  else if (navigated) {
    const heading = page.element.querySelector<HTMLElement>('h1')
    heading?.setAttribute('tabindex', '-1')
    heading?.focus({ preventScroll: true })
  }
  navigated = true
}

setNavigator((path, options) => {
  if (path === location.pathname + location.search) return render()
  if (options?.replace) history.replaceState(null, '', path)
  else history.pushState(null, '', path)
  render()
})

// Same-origin links marked data-link navigate without reloading.
document.addEventListener('click', (event) => {
  const target = event.target as Element | null
  const link = target?.closest?.('a[data-link]') as HTMLAnchorElement | null
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
  event.preventDefault()
  navigate(link.getAttribute('href') ?? '/')
})
window.addEventListener('popstate', render)

// Signed out (refresh refused, or another tab): back to the login page.
onSessionChange((current) => {
  const route = match(location.pathname, location.search)
  if (!current && (route.name === 'documents' || route.name === 'editor')) render()
})

render()
