/** Starting an enrollment: a new pending secret and its one-time link (admin API, directory sync). */
import { newTotpParams } from '../protocol/totp.js';
import type { TotpParams } from '../protocol/messages.js';
import type { ServerContext } from './context.js';
import { hashToken, newToken } from './store/crypto.js';

export interface Enrollment {
  /** The one-time link; only its hash is stored. Never log it. */
  link: string;
  expiresAt: number;
  totp: TotpParams;
}

/** Replaces any earlier pending enrollment (its link stops working). */
export async function startEnrollment(ctx: ServerContext, name: string): Promise<Enrollment> {
  const totp = newTotpParams();
  const token = newToken();
  const expiresAt = ctx.clock() + ctx.config.enrollmentTtlSeconds * 1000;
  await ctx.store.updateUser(
    name,
    { kind: 'pending', totp, tokenHash: hashToken(token), tokenExpiresAt: expiresAt },
    ctx.clock(),
  );
  return { link: `${ctx.publicUrl()}/enroll/${token}`, expiresAt, totp };
}
