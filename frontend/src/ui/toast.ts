/** Short messages in a polite live region at the bottom of the screen. */

import { h } from '../dom'

let region: HTMLElement | null = null

export function toast(message: string, tone: 'info' | 'error' = 'info', durationMs = 4000): void {
  if (!region || !region.isConnected) {
    region = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' })
    document.body.appendChild(region)
  }
  const item = h('div', { class: `toast ${tone}` }, message)
  region.appendChild(item)
  setTimeout(() => item.remove(), durationMs)
}
