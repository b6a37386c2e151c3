/** Device-group policies; a change to a group's userGroups is a `scope` change. */
import {
  DEFAULT_POLICY,
  policySchema,
  type Policy,
  type PolicyPatch,
} from '../../protocol/policy.js';
import { bump } from './changelog.js';
import { parseJson, READ_TX, REVISION_TX, type StoreCore } from './core.js';
import type { Queryable } from './db.js';

export async function policyOf(
  q: Queryable,
  group: string,
): Promise<{ policy: Policy; explicit: boolean }> {
  const row = await q.get<{ policy: string }>(
    'SELECT policy FROM policies WHERE device_group = ?',
    [group],
  );
  if (!row) return { policy: { ...DEFAULT_POLICY }, explicit: false };
  // Fields added to the policy later take their default for groups stored before.
  return {
    policy: policySchema.parse({ ...DEFAULT_POLICY, ...parseJson<object>(row.policy) }),
    explicit: true,
  };
}

export function getPolicy(
  core: StoreCore,
  deviceGroup: string,
): Promise<{ policy: Policy; explicit: boolean }> {
  return core.db.transaction((tx) => policyOf(tx, deviceGroup), READ_TX);
}

/** True when the change alters which users the group's devices are entitled to. */
function changesScope(before: Policy, after: Policy): boolean {
  return (
    JSON.stringify([...before.userGroups].sort()) !== JSON.stringify([...after.userGroups].sort())
  );
}

export function setPolicy(
  core: StoreCore,
  deviceGroup: string,
  patch: PolicyPatch,
  at: number,
): Promise<Policy> {
  return core.db.transaction(async (tx) => {
    const { policy: before } = await policyOf(tx, deviceGroup);
    const policy = policySchema.parse({ ...before, ...patch });
    await tx.run(
      `INSERT INTO policies (device_group, policy, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (device_group) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
      [deviceGroup, JSON.stringify(policy), at],
    );
    const kind = changesScope(before, policy) ? 'scope' : 'policy';
    await bump(core, tx, { kind, subject: deviceGroup, before: null, after: null }, at);
    return policy;
  }, REVISION_TX);
}

export async function listDeviceGroups(core: StoreCore): Promise<string[]> {
  const rows = await core.db.all<{ g: string }>(
    `SELECT device_group AS g FROM policies UNION SELECT device_group FROM devices
       UNION SELECT device_group FROM reg_tokens UNION SELECT 'default' ORDER BY 1`,
  );
  return rows.map((r) => r.g);
}
