/**
 * The tamper-evident device log: every event a device writes carries `chainSeq` (1, 2, 3, ... per
 * device from registration on) and `prevHash`, the eventHash of the event before it (GENESIS for
 * the first). The server keeps each device's head and flags a gap (a sequence number skipped: an
 * event deleted) or a rewrite (a prevHash that does not match: an event altered, or one sequence
 * number used twice).
 *
 * eventHash is SHA-256 over the event's canonical JSON: keys sorted, absent fields omitted. Every
 * field the shared schema knows is covered, including fields added later.
 */
import { createHash } from 'node:crypto';
import type { LoginEvent } from './messages.js';

export const GENESIS = createHash('sha256').update('idv-chain/v1', 'utf8').digest('hex');

/** JSON with object keys sorted at every level and undefined members left out. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function eventHash(event: LoginEvent): string {
  return createHash('sha256').update(canonicalJson(event), 'utf8').digest('hex');
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export const START: Readonly<ChainHead> = Object.freeze({ seq: 0, hash: GENESIS });

export interface ChainBreak {
  kind: 'gap' | 'rewrite';
  /** The chainSeq of the event at which the break showed. */
  seq: number;
  /** The sequence number the server expected there. */
  expected: number;
  event: LoginEvent;
}

/**
 * Walks a batch (in the order the device sent it) from `head`. `isNew(id)` tells events stored
 * for the first time from resends of stored ones (an unacked batch is sent again: harmless).
 */
export function checkChain(
  head: Readonly<ChainHead>,
  events: readonly LoginEvent[],
  isNew: (id: string) => boolean,
): { head: ChainHead; breaks: ChainBreak[] } {
  let h: ChainHead = { ...head };
  const breaks: ChainBreak[] = [];
  for (const e of events) {
    const expected = h.seq + 1;
    if (e.chainSeq === undefined) {
      // A device that has chained before does not stop: an unchained new event is a rewrite.
      if (h.seq > 0 && isNew(e.id)) breaks.push({ kind: 'rewrite', seq: 0, expected, event: e });
      continue;
    }
    if (e.chainSeq < expected) {
      if (isNew(e.id)) breaks.push({ kind: 'rewrite', seq: e.chainSeq, expected, event: e });
      continue;
    }
    if (e.chainSeq > expected) breaks.push({ kind: 'gap', seq: e.chainSeq, expected, event: e });
    else if (e.prevHash !== h.hash)
      breaks.push({ kind: 'rewrite', seq: e.chainSeq, expected, event: e });
    h = { seq: e.chainSeq, hash: eventHash(e) };
  }
  return { head: h, breaks };
}
