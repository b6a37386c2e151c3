/**
 * Recovery codes on the server: issue ten (hashes stored and pushed, plain codes returned once).
 * A code an agent reports as used (event reason `recovery`, recoveryCodeId) is removed and pushed
 * by the sync connection (server/sync/connection.ts).
 */
import { generateRecoveryCodes, hashRecoveryCode } from '../../protocol/recovery.js';
import type { ServerContext } from '../context.js';
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
