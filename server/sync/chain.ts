/**
 * Checking a device's event chain on upload (protocol/chain.ts). A gap or a rewrite becomes a
 * `tamper` event of that device (in `idvctl events`), a warning in the log, the
 * idv_event_chain_breaks_total metric and the device's `chain` in `idvctl device show`.
 */
import { createHash } from 'node:crypto';
import { checkChain, type ChainBreak } from '../../protocol/chain.js';
import type { Logger } from '../../protocol/io/log.js';
import type { LoginEvent } from '../../protocol/messages.js';
import type { ServerContext } from '../context.js';
import type { StoredEvent } from '../store/store.js';

/**
 * Advances the device's chain over `events` (as sent), `stored` being those stored for the first
 * time; writes the head (and any tamper events, which reach the feed by the store's notices)
 * before returning.
 */
export async function recordChain(
  ctx: ServerContext,
  deviceId: string,
  events: readonly LoginEvent[],
  stored: readonly StoredEvent[],
  log: Logger,
): Promise<void> {
  const before = await ctx.store.getChain(deviceId);
  const fresh = new Set(stored.map((e) => e.id));
  const { head, breaks } = checkChain(before, events, (id) => fresh.has(id));
  if (head.seq === before.seq && head.hash === before.hash && breaks.length === 0) return;
  const now = ctx.clock();
  if (breaks.length > 0) {
    // Ids derived from what broke: a resend after a crash stores the same event once.
    await ctx.store.addEvents(
      deviceId,
      breaks.map((b) => tamperEvent(deviceId, b, now)),
      now,
    );
    for (const b of breaks) {
      ctx.metrics.chainBreaks.inc({ kind: b.kind });
      log.warn(
        { kind: b.kind, chainSeq: b.seq, expected: b.expected, user: b.event.user },
        b.kind === 'gap'
          ? 'device event log has a gap: events were deleted on the device before upload'
          : 'device event log was rewritten: an event was altered or replaced on the device before upload',
      );
    }
  }
  const last = breaks.at(-1);
  await ctx.store.saveChain(deviceId, {
    ...head,
    breaks: before.breaks + breaks.length,
    lastBreak: last
      ? { kind: last.kind, seq: last.seq, expected: last.expected, at: now }
      : before.lastBreak,
  });
}

function tamperEvent(deviceId: string, b: ChainBreak, now: number): LoginEvent {
  const h = createHash('sha256')
    .update(`idv-tamper\n${deviceId}\n${b.kind}\n${b.seq}\n${b.event.id}`)
    .digest();
  h[6] = (h[6]! & 0x0f) | 0x80; // version 8 (custom)
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const x = h.subarray(0, 16).toString('hex');
  return {
    id: `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`,
    at: now,
    user: b.event.user,
    service: b.event.service,
    outcome: 'tamper',
    reason: b.kind === 'gap' ? 'chain-gap' : 'chain-rewrite',
  };
}
