/** A document role as a badge: "Owner", "Editor" or "Viewer". */

import { h } from '../dom'

export function roleBadge(role: string): HTMLElement {
  return h('span', { class: `badge role-${role}` }, role[0].toUpperCase() + role.slice(1))
}
