/** Who is here, from awareness states. */

export interface Person {
  name: string
  color: string
  self: boolean
}

/** One entry per name (a person with two tabs is here once), yourself first. */
export function peopleFrom(states: Map<number, Record<string, unknown>>, selfId: number): Person[] {
  const byName = new Map<string, Person>()
  for (const [clientId, state] of states) {
    const user = state.user as { name?: unknown; color?: unknown } | undefined
    if (!user || typeof user.name !== 'string' || !user.name) continue
    const self = clientId === selfId
    const known = byName.get(user.name)
    if (!known || self)
      byName.set(user.name, { name: user.name, color: String(user.color ?? ''), self: self || Boolean(known?.self) })
  }
  return [...byName.values()].sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name))
}
