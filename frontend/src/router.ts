/** Client-side routes. Django serves index.html for each of these paths (backend/spa.py). */

export type Route =
  | { name: 'documents' }
  | { name: 'login'; next: string }
  | { name: 'register'; next: string }
  | { name: 'editor'; id: string }
  | { name: 'not-found' }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A same-site path to go to after logging in; anything else becomes "/". */
export function safeNext(value: string | null): string {
  return value && value.startsWith('/') && !value.startsWith('//') ? value : '/'
}

export function match(pathname: string, search = ''): Route {
  const params = new URLSearchParams(search)
  const path = pathname.replace(/\/+$/, '') || '/'
  if (path === '/') return { name: 'documents' }
  if (path === '/login') return { name: 'login', next: safeNext(params.get('next')) }
  if (path === '/register') return { name: 'register', next: safeNext(params.get('next')) }
  const editor = /^\/d\/([^/]+)$/.exec(path)
  if (editor && UUID.test(editor[1])) return { name: 'editor', id: editor[1].toLowerCase() }
  return { name: 'not-found' }
}

type Navigate = (path: string, options?: { replace?: boolean }) => void
let navigateImpl: Navigate = (path) => location.assign(path)

export function setNavigator(fn: Navigate): void {
  navigateImpl = fn
}

export function navigate(path: string, options?: { replace?: boolean }): void {
  navigateImpl(path, options)
}
