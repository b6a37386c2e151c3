/**
 * Which uploaded login events count for their account (issue 14), and how:
 *
 * - success: outcome `ok` (a TOTP code, a recovery code): the account's failure count restarts;
 *   with a TOTP `step`, the fleet-wide replay guard rises to it and is pushed to every device
 *   that holds the user, which then refuses that step and older ones.
 * - failure: a code that was checked and refused — outcome `invalid`, or `locked` with the reason
 *   of the refused code (the failure that reached the device's maxAttempts). Refusals that
 *   checked no code (already locked: reasons `locked`, `account`) do not count.
 *
 * Only events about a user the device holds (its group's policy entitles the user) count: a
 * device cannot lock, nor raise the guard of, accounts it does not serve. A step more than
 * MAX_STEP_AHEAD steps past the server's clock is not taken as the guard (a bogus one would
 * refuse the user's codes everywhere until then); the event is still stored.
 */
import type { LoginEvent } from '../../protocol/messages.js';
import type { ServerContext } from '../context.js';
import type { AccountItem, DeviceState } from '../store/store.js';
import { entitledGroups } from './view.js';

/** Refusals that checked no code: they do not spend the account's budget. */
const NO_CODE_CHECKED = new Set(['locked', 'account']);

export const MAX_STEP_AHEAD = 20;

/** The reason of the server's own event when an account reaches its budget (outcome `locked`). */
export const ACCOUNT_LOCK_REASON = 'account-max-failures';

export function accountKind(e: LoginEvent): 'success' | 'failure' | null {
  if (e.outcome === 'ok') return 'success';
  if (e.outcome === 'invalid') return 'failure';
  if (e.outcome === 'locked' && !NO_CODE_CHECKED.has(e.reason ?? '')) return 'failure';
  return null;
}

/** The account items of a device's uploaded events, in upload order. */
export async function accountItems(
  ctx: ServerContext,
  device: DeviceState,
  events: readonly LoginEvent[],
): Promise<AccountItem[]> {
  const relevant = events.filter((e) => accountKind(e) !== null);
  if (relevant.length === 0) return [];
  const { policy } = await ctx.store.getPolicy(device.deviceGroup);
  const items: AccountItem[] = [];
  const users = new Map<string, Awaited<ReturnType<typeof ctx.store.getUser>>>();
  for (const e of relevant) {
    if (!users.has(e.user)) users.set(e.user, await ctx.store.getUser(e.user));
    const user = users.get(e.user);
    if (!user || !entitledGroups(policy, user.groups)) continue;
    const kind = accountKind(e) as 'success' | 'failure';
    let step: number | undefined;
    if (kind === 'success' && e.step !== undefined && user.totp) {
      const now = Math.floor(ctx.clock() / 1000 / user.totp.period);
      if (e.step <= now + MAX_STEP_AHEAD) step = e.step;
      else ctx.log.warn({ user: user.name, device: device.id }, 'accepted step far ahead ignored');
    }
    items.push({
      eventId: e.id,
      user: e.user,
      kind,
      ...(step !== undefined ? { step } : {}),
      maxFailures: policy.accountMaxFailures,
    });
  }
  return items;
}
