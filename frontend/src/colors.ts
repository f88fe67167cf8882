/** Stable, readable colours for people: the same name always gets the same colour. */

// Saturated enough to tell apart, dark enough for white label text (WCAG AA at 12px bold).
export const PALETTE = [
  '#b4463c', // brick
  '#2f6fb0', // blue
  '#3d7d3a', // green
  '#8a4fb0', // violet
  '#b0610f', // amber
  '#1f7a7a', // teal
  '#b03d78', // magenta
  '#5b6472', // slate
] as const

export function hashString(value: string): number {
  // FNV-1a, 32 bit.
  let hash = 0x811c9dc5
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

export function colorFor(name: string): string {
  return PALETTE[hashString(name.toLowerCase()) % PALETTE.length]
}

export function initials(name: string): string {
  const parts = name.split(/[\s._@+-]+/).filter(Boolean)
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : name.slice(0, 2)
  return letters.toUpperCase()
}
