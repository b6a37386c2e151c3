/**
 * Applying what the server pushes. Each snapshot or delta is one SQLite transaction in the cache
 * (all of it or none of it), acknowledged only after it committed.
 */
import type { Logger } from '../../protocol/io/log.js';
import type { Delta, Snapshot } from '../../protocol/messages.js';
import type { Cache } from '../store/cache.js';

export async function applyUpdate(
  cache: Cache,
  update: Snapshot | Delta,
  now: number,
  log: Logger,
): Promise<{ type: 'ack'; revision: number }> {
  if (update.type === 'snapshot') {
    await cache.applySnapshot(update, now);
    log.info({ revision: update.revision, users: update.users.length }, 'snapshot applied');
  } else {
    await cache.applyDelta(update, now);
    log.info(
      {
        revision: update.revision,
        upsert: update.upsert.length,
        remove: update.remove.length,
        policy: Boolean(update.policy),
      },
      'delta applied',
    );
  }
  return { type: 'ack', revision: update.revision };
}
