import { h } from '../dom'

export function brand(): HTMLElement {
  const mark = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
  mark.setAttribute('viewBox', '0 0 32 32')
  mark.setAttribute('width', '26')
  mark.setAttribute('height', '26')
  mark.setAttribute('aria-hidden', 'true')
  mark.innerHTML =
    '<rect width="32" height="32" rx="8" fill="#2f5d50"/><circle cx="12" cy="16" r="6" fill="none" stroke="#fff" stroke-width="2.5"/><circle cx="20" cy="16" r="6" fill="none" stroke="#f2c14e" stroke-width="2.5"/>'
  return h('a', { href: '/', class: 'brand', 'data-link': true }, mark, h('span', {}, 'Tandem'))
}
