/** Which members an `@query` offers: names that start with it first, then names that contain it. */

import type { Member } from '../api'

export const MAX_OFFERED = 8

export function matchMembers(members: readonly Member[], query: string, me: string): string[] {
  const q = query.trim().toLowerCase()
  const names = members.map((m) => m.username).filter((name) => name !== me)
  const starts = names.filter((name) => name.toLowerCase().startsWith(q))
  const contains = names.filter((name) => !name.toLowerCase().startsWith(q) && name.toLowerCase().includes(q))
  const byName = (a: string, b: string): number => a.localeCompare(b)
  return [...starts.sort(byName), ...contains.sort(byName)].slice(0, MAX_OFFERED)
}

/** The index a key press moves the highlight to, wrapping around. */
export function moveHighlight(index: number, count: number, key: 'ArrowUp' | 'ArrowDown'): number {
  if (count === 0) return 0
  return (index + (key === 'ArrowDown' ? 1 : count - 1)) % count
}
