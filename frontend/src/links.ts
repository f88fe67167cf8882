/** Web and mail links only; a bare "example.com" becomes https://example.com. */
export function safeHref(value: string): string {
  const href = value.trim()
  if (!href) return ''
  if (/^(https?:|mailto:)/i.test(href)) return href
  if (/^[a-z][a-z0-9+.-]*:/i.test(href)) return ''
  return `https://${href.replace(/^\/+/, '')}`
}
