/** Reading (never verifying) the claims of a JWT: the server verifies, the client only plans. */

export function jwtExpiry(token: string): number | null {
  const payload = token.split('.')[1]
  if (!payload) return null
  try {
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    )
    const exp = (JSON.parse(json) as { exp?: unknown }).exp
    return typeof exp === 'number' ? exp * 1000 : null
  } catch {
    return null
  }
}

/**
 * When to refresh an access token: a minute before it expires, or at 80% of its life when it
 * lives less than five minutes; never in the past.
 */
export function refreshDelay(expiresAt: number, issuedAt: number, now: number): number {
  const life = Math.max(0, expiresAt - issuedAt)
  const margin = life < 5 * 60_000 ? life * 0.2 : 60_000
  return Math.max(0, expiresAt - margin - now)
}
