/** What agents are sent: a group's snapshot, or the changes since a revision, read atomically. */
import type { Policy } from '../../protocol/policy.js';
import { currentRevision } from './changelog.js';
import { parseJson, READ_TX, type StoreCore } from './core.js';
import { policyOf } from './policies.js';
import type { Change, ChangeSet, SnapshotData, UserState } from './store.js';
import { allUsers, userState } from './users.js';

export function snapshot(core: StoreCore, deviceGroup: string): Promise<SnapshotData> {
  return core.db.transaction(async (tx) => {
    const revision = await currentRevision(tx);
    const { policy } = await policyOf(tx, deviceGroup);
    return { revision, policy, users: await allUsers(core, tx) };
  }, READ_TX);
}

export function changesSince(
  core: StoreCore,
  since: number,
  maxChanges: number,
  deviceGroups: readonly string[],
): Promise<ChangeSet> {
  return core.db.transaction(async (tx) => {
    const revision = await currentRevision(tx);
    if (since > revision || since < 0) return { kind: 'tooFar', revision };
    if (revision - since > maxChanges) return { kind: 'tooFar', revision };
    const policies = new Map<string, Policy>();
    for (const g of deviceGroups) policies.set(g, (await policyOf(tx, g)).policy);
    if (since === revision)
      return { kind: 'changes', revision, changes: [], users: new Map(), policies };
    const rows = await tx.all<{
      revision: number;
      kind: string;
      subject: string;
      before: string | null;
      after: string | null;
    }>(
      'SELECT revision, kind, subject, before, after FROM changes WHERE revision > ? ORDER BY revision',
      [since],
    );
    // Every revision has exactly one log entry: a gap means the log was pruned past `since`.
    if (rows.length !== revision - since || rows[0]?.revision !== since + 1)
      return { kind: 'tooFar', revision };
    const changes: Change[] = rows.map((r) => ({
      revision: r.revision,
      kind: r.kind as Change['kind'],
      subject: r.subject,
      before: r.before ? parseJson<string[]>(r.before) : null,
      after: r.after ? parseJson<string[]>(r.after) : null,
    }));
    const users = new Map<string, UserState>();
    for (const c of changes) {
      if (c.kind === 'user' && !users.has(c.subject)) {
        const u = await userState(core, tx, c.subject);
        if (u) users.set(c.subject, u);
      } else if (c.kind !== 'user' && !policies.has(c.subject)) {
        policies.set(c.subject, (await policyOf(tx, c.subject)).policy);
      }
    }
    return { kind: 'changes', revision, changes, users, policies };
  }, READ_TX);
}
