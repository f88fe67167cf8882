/** The shape of the history endpoint's rows, read tolerantly, newest first. */

export interface HistoryEntry {
  seq: number
  user: string | null
  at: string | null
}

function pickString(row: Record<string, unknown>, keys: string[]): string | null {
  for (const key of keys) {
    const value = row[key]
    if (typeof value === 'string' && value) return value
    if (value && typeof value === 'object' && typeof (value as { username?: unknown }).username === 'string') {
      return (value as { username: string }).username
    }
  }
  return null
}

export function normalizeHistory(body: unknown): HistoryEntry[] {
  let rows: unknown = body
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const record = body as Record<string, unknown>
    rows = record.results ?? record.history ?? record.entries ?? record.versions ?? []
  }
  if (!Array.isArray(rows)) return []
  const entries: HistoryEntry[] = []
  for (const raw of rows) {
    if (!raw || typeof raw !== 'object') continue
    const row = raw as Record<string, unknown>
    const seq = row.seq ?? row.to_seq ?? row.last_seq ?? row.version
    if (typeof seq !== 'number') continue
    entries.push({
      seq,
      user: pickString(row, ['user', 'username', 'author', 'by', 'actor']),
      at: pickString(row, ['created_at', 'at', 'timestamp', 'time', 'committed_at', 'last_at']),
    })
  }
  return entries.sort((a, b) => b.seq - a.seq)
}

/** Consecutive changes by one person, close together in time: one row of the history panel. */
export interface HistoryGroup {
  /** The version after the group's last change: what "preview" and "restore" show. */
  seq: number
  firstSeq: number
  user: string | null
  at: string | null
  changes: number
}

/**
 * Fold per-update rows (newest first) into editing sessions: a new group starts when the
 * author changes or when more than `gapMs` passed between two changes.
 */
export function groupHistory(entries: HistoryEntry[], gapMs = 120_000): HistoryGroup[] {
  const groups: HistoryGroup[] = []
  let last: HistoryEntry | null = null
  for (const entry of entries) {
    const current = groups[groups.length - 1]
    const gap = last?.at && entry.at ? Date.parse(last.at) - Date.parse(entry.at) : 0
    if (current && last && entry.user === current.user && gap <= gapMs) {
      current.firstSeq = entry.seq
      current.changes++
    } else {
      groups.push({ seq: entry.seq, firstSeq: entry.seq, user: entry.user, at: entry.at, changes: 1 })
    }
    last = entry
  }
  return groups
}
