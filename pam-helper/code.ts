/**
 * What counts as a code, checked locally so that typos never reach the agent (and its counters
 * only see things that could be codes). Kept equal to protocol/messages.ts CODE_RE by a unit test;
 * copied rather than imported because messages.ts pulls in zod.
 */
export const CODE_RE = /^([0-9]{6,8}|[0-9]{12}|[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})$/;

/** A helpdesk code as read out (protocol/helpdesk.ts): 3-digit groups joined by dashes. */
const HELPDESK_DASHED = /^[0-9]{3}-[0-9]{3}-[0-9]{3}-[0-9]{3}$/;

/** The longest input worth looking at; anything longer is not a code. */
export const MAX_INPUT = 64;

/**
 * Turns what a person typed into a code, or null. Spaces are dropped (apps show `123 456`),
 * recovery codes are matched in lower case and a helpdesk code loses the dashes between its
 * groups; nothing else is forgiven.
 */
export function normalizeCode(input: string): string | null {
  if (input.length > MAX_INPUT) return null;
  let code = input.replace(/[ \t]/g, '').toLowerCase();
  if (HELPDESK_DASHED.test(code)) code = code.replace(/-/g, '');
  return CODE_RE.test(code) ? code : null;
}
