/**
 * Recovery codes on the server: issue ten (hashes stored and pushed, plain codes returned once),
 * and remove a code everywhere once an agent reports its use.
 */
import { generateRecoveryCodes, hashRecoveryCode } from '../../protocol/recovery.js';
import type { ServerContext } from '../context.js';
import type { StoredEvent } from '../store/store.js';
import type { Hub } from '../sync/hub.js';

/** New codes for `user`, replacing the old ones on the server and every entitled device. */
export async function issueRecoveryCodes(
  ctx: ServerContext,
  hub: Hub,
  user: string,
): Promise<string[]> {
  const codes = generateRecoveryCodes();
  const hashes = await Promise.all(codes.map((c) => hashRecoveryCode(c)));
  await ctx.store.setRecoveryCodes(user, hashes, ctx.clock());
  await hub.changed();
  ctx.log.info({ user, count: codes.length }, 'recovery codes issued');
  return codes;
}

/**
 * Follows stored events: an `ok` with reason `recovery` names the code used (recoveryCodeId);
 * that code is deleted and the change pushed, so no other device accepts it again. Events are
 * stored (and so published) once per id, and a second removal is a no-op.
 */
export function followRecoveryUse(ctx: ServerContext, hub: Hub): () => void {
  return ctx.feed.subscribe((events: readonly StoredEvent[]) => {
    const used = events.filter(
      (e) => e.reason === 'recovery' && e.outcome === 'ok' && e.recoveryCodeId !== undefined,
    );
    if (used.length === 0) return;
    void (async () => {
      let removed = 0;
      for (const e of used) {
        if (await ctx.store.useRecoveryCode(e.user, e.recoveryCodeId as string, ctx.clock())) {
          removed += 1;
          ctx.log.info(
            { user: e.user, device: e.device },
            'recovery code used; removed everywhere',
          );
        }
      }
      if (removed > 0) await hub.changed();
    })().catch((err: unknown) =>
      ctx.log.error(
        { err: { name: (err as Error)?.name } },
        'removing a used recovery code failed',
      ),
    );
  });
}
