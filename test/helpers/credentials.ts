import { json } from './http.js'

export const ALICE = { user: 'alice', password: 'alice-secret' }
export const BOB = { user: 'bob', password: 'bob-secret' }

export function basic(who: { user: string; password: string }): string {
  return `Basic ${Buffer.from(`${who.user}:${who.password}`).toString('base64')}`
}

/** A token from the mirror's endpoint, as Docker fetches one after the ping's challenge. */
export async function tokenVia(
  mirrorUrl: string,
  repo: string,
  who?: { user: string; password: string },
): Promise<string> {
  const url = `${mirrorUrl}/token?service=test-registry&scope=${encodeURIComponent(`repository:${repo}:pull`)}`
  const answer = await json(url, who === undefined ? undefined : { authorization: basic(who) })
  if (answer.status !== 200) throw new Error(`token: ${answer.status}`)
  return (answer.body as { token: string }).token
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
