/**
 * What a directory sync would change, computed from what the directory says and what the store
 * holds; no I/O. Only users the sync manages (added or adopted by it) are ever suspended, resumed
 * or removed; a user an admin suspended stays suspended.
 */
import { IdvError } from '../../protocol/errors.js';
import type { DirectoryLink } from '../store/integrations.js';
import type { UserState } from '../store/store.js';
import type { DirectoryEntry } from './ldap.js';

export interface SyncPlan {
  add: { name: string; groups: string[]; dn: string; mail?: string }[];
  /** Local users of the same name as a directory user: managed by the sync from now on. */
  adopt: { name: string; dn: string }[];
  groups: { name: string; from: string[]; to: string[] }[];
  suspend: { name: string; reason: 'gone from the directory' | 'disabled in the directory' }[];
  resume: { name: string }[];
  /** Only with prune: managed users gone from the directory. */
  remove: { name: string }[];
  /** New addresses for enrollment mail. */
  mail: { name: string; address: string }[];
  skipped: { dn: string; reason: string }[];
}

export interface PlanInput {
  entries: DirectoryEntry[];
  skipped: { dn: string; reason: string }[];
  users: UserState[];
  links: DirectoryLink[];
  emails: Record<string, string>;
  prune: boolean;
}

const same = (a: string[], b: string[]): boolean =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

export function planSync(input: PlanInput): SyncPlan {
  const users = new Map(input.users.map((u) => [u.name, u]));
  const links = new Map(input.links.map((l) => [l.name, l]));
  const plan: SyncPlan = {
    add: [],
    adopt: [],
    groups: [],
    suspend: [],
    resume: [],
    remove: [],
    mail: [],
    skipped: [...input.skipped],
  };
  const present = new Set<string>();
  for (const e of input.entries) {
    present.add(e.login);
    const u = users.get(e.login);
    if (!u) {
      if (e.disabled)
        plan.skipped.push({ dn: e.dn, reason: 'disabled in the directory: not added' });
      else
        plan.add.push({
          name: e.login,
          groups: e.groups,
          dn: e.dn,
          ...(e.mail ? { mail: e.mail } : {}),
        });
      continue;
    }
    const link = links.get(e.login);
    if (!link) plan.adopt.push({ name: e.login, dn: e.dn });
    if (!same(u.groups, e.groups))
      plan.groups.push({ name: e.login, from: u.groups, to: e.groups });
    if (e.disabled && u.status === 'active')
      plan.suspend.push({ name: e.login, reason: 'disabled in the directory' });
    else if (!e.disabled && u.status === 'suspended' && link?.suspendedBySync)
      plan.resume.push({ name: e.login });
    if (e.mail && input.emails[e.login] !== e.mail)
      plan.mail.push({ name: e.login, address: e.mail });
  }
  for (const link of input.links) {
    if (present.has(link.name)) continue;
    const u = users.get(link.name);
    if (!u) continue;
    if (input.prune) plan.remove.push({ name: link.name });
    else if (u.status === 'active')
      plan.suspend.push({ name: link.name, reason: 'gone from the directory' });
  }
  for (const a of plan.add) if (a.mail) plan.mail.push({ name: a.name, address: a.mail });
  return plan;
}

/** True when the plan would change nothing. */
export function planIsEmpty(plan: SyncPlan): boolean {
  return (
    plan.add.length +
      plan.adopt.length +
      plan.groups.length +
      plan.suspend.length +
      plan.resume.length +
      plan.remove.length +
      plan.mail.length ===
    0
  );
}

/**
 * Refuses a result that looks like a broken directory or filter rather than real departures:
 * no users at all, or fewer than half of last time (unless forced).
 */
export function checkPlausible(count: number, lastCount: number | null, force: boolean): void {
  if (count === 0)
    throw new IdvError(
      'DIRECTORY_SUSPICIOUS',
      'the directory returned no users; nothing was changed (check baseDn and userFilter)',
    );
  if (!force && lastCount !== null && count * 2 < lastCount)
    throw new IdvError(
      'DIRECTORY_SUSPICIOUS',
      `the directory returned ${count} users, fewer than half of the ${lastCount} of the last sync; nothing was changed (check the directory and the filter, or run idvctl directory sync --force)`,
    );
}
