/**
 * What counts as a code, checked locally so that typos never reach the agent (and its counters
 * only see things that could be codes). Kept equal to protocol/messages.ts CODE_RE by a unit test;
 * copied rather than imported because messages.ts pulls in zod.
 */
export const CODE_RE = /^([0-9]{6,8}|[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})$/;

/** The longest input worth looking at; anything longer is not a code. */
export const MAX_INPUT = 64;

/**
 * Turns what a person typed into a code, or null. Spaces are dropped (apps show `123 456`) and
 * recovery codes are matched in lower case; nothing else is forgiven.
 */
export function normalizeCode(input: string): string | null {
  if (input.length > MAX_INPUT) return null;
  const code = input.replace(/[ \t]/g, '').toLowerCase();
  return CODE_RE.test(code) ? code : null;
}
