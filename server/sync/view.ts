/**
 * What one device is entitled to see: the users its group's policy lets log in there (all users
 * when policy.userGroups is empty), with their secrets, and the policy. Snapshots and deltas are
 * built here, once per device group and base revision, and rendered to JSON once per message.
 */
import type { Delta, Snapshot, UserRecord } from '../../protocol/messages.js';
import { forSession } from '../../protocol/compat.js';
import type { Policy } from '../../protocol/policy.js';
import { payloadOf, type Payload } from './signer.js';
import { SYNC_PROTOCOL } from '../../protocol/version.js';
import type { ChangeSet, SnapshotData, UserState } from '../store/store.js';

/** True when a user with these groups may log in on devices under this policy. */
export function entitledGroups(policy: Policy, groups: readonly string[] | null): boolean {
  if (groups === null) return false;
  return policy.userGroups.length === 0 || groups.some((g) => policy.userGroups.includes(g));
}

/** The record a given device receives for a user (its own unlock time folded in). */
export function toRecord(user: UserState, deviceId: string): UserRecord {
  const deviceUnlock = user.deviceUnlocks[deviceId] ?? null;
  const unlockedAt =
    user.unlockedAt === null
      ? deviceUnlock
      : deviceUnlock === null
        ? user.unlockedAt
        : Math.max(user.unlockedAt, deviceUnlock);
  return {
    name: user.name,
    groups: user.groups,
    status: user.status,
    totp: user.totp,
    graceStartedAt: user.graceStartedAt,
    recoveryCodes: user.recoveryCodes,
    unlockedAt,
    // The account guarantees (issue 14), as part of the user's synced state: a snapshot carries
    // them to a device that was offline when they changed.
    ...(user.lastStep !== null ? { lastStep: user.lastStep } : {}),
    ...(user.accountLockedAt !== null
      ? { accountLockedAt: user.accountLockedAt, accountFailures: user.accountFailures }
      : {}),
  };
}

/** A message for every device of a group at one base revision; JSON rendered lazily and cached. */
export class GroupMessage {
  /** The JSON for devices without a per-device unlock, by session version. */
  private readonly generic = new Map<number, string>();
  private readonly genericPayload = new Map<number, Payload>();
  /** Devices whose records differ from the generic ones (a per-device unlock). */
  private readonly special: Set<string>;

  constructor(
    private readonly build: (deviceId: string) => Snapshot | Delta,
    users: readonly UserState[],
    readonly revision: number,
    readonly kind: 'snapshot' | 'delta',
  ) {
    this.special = new Set(users.flatMap((u) => Object.keys(u.deviceUnlocks)));
  }

  /** The JSON text for this device, cut down to what its session version knows. */
  render(deviceId: string, version: number = SYNC_PROTOCOL.max): string {
    if (this.special.has(deviceId))
      return JSON.stringify(forSession(this.build(deviceId), version));
    let text = this.generic.get(version);
    if (text === undefined) {
      text = JSON.stringify(forSession(this.build(''), version));
      this.generic.set(version, text);
    }
    return text;
  }

  /** The same text with what signing it needs (hash, quoted form), computed once per content. */
  payload(deviceId: string, version: number = SYNC_PROTOCOL.max): Payload {
    if (this.special.has(deviceId)) return payloadOf(this.render(deviceId, version));
    let p = this.genericPayload.get(version);
    if (p === undefined) {
      p = payloadOf(this.render('', version));
      this.genericPayload.set(version, p);
    }
    return p;
  }
}

export function snapshotMessage(
  deviceGroup: string,
  data: SnapshotData,
  now: number,
): GroupMessage {
  const users = data.users.filter((u) => entitledGroups(data.policy, u.groups));
  return new GroupMessage(
    (deviceId) => ({
      type: 'snapshot',
      revision: data.revision,
      serverTime: now,
      deviceGroup,
      policy: data.policy,
      users: users.map((u) => toRecord(u, deviceId)),
    }),
    users,
    data.revision,
    'snapshot',
  );
}

/**
 * The delta for devices of `deviceGroup` that have applied `since`, or 'snapshot' when only a
 * snapshot is right (log too short, or the group's entitlement changed wholesale), or null when
 * nothing in the change set concerns these devices.
 */
export function deltaMessage(
  deviceGroup: string,
  since: number,
  set: ChangeSet,
  now: number,
  force = false,
): GroupMessage | 'snapshot' | null {
  if (set.kind === 'tooFar') return 'snapshot';
  const policy = set.policies.get(deviceGroup);
  if (!policy) return 'snapshot';
  let policyChanged = false;
  const touched = new Set<string>();
  for (const c of set.changes) {
    if (c.kind === 'scope' && c.subject === deviceGroup) return 'snapshot';
    if (c.kind === 'policy' && c.subject === deviceGroup) policyChanged = true;
    // A user matters here when it was or is entitled: then the device may hold it.
    if (
      c.kind === 'user' &&
      (entitledGroups(policy, c.before) || entitledGroups(policy, c.after))
    ) {
      touched.add(c.subject);
    }
  }
  const upsert: UserState[] = [];
  const remove: string[] = [];
  for (const name of touched) {
    const user = set.users.get(name);
    if (user && entitledGroups(policy, user.groups)) upsert.push(user);
    else remove.push(name);
  }
  if (!force && !policyChanged && upsert.length === 0 && remove.length === 0) return null;
  return new GroupMessage(
    (deviceId) => ({
      type: 'delta',
      fromRevision: since,
      revision: set.revision,
      serverTime: now,
      ...(policyChanged ? { policy } : {}),
      upsert: upsert.map((u) => toRecord(u, deviceId)),
      remove,
    }),
    upsert,
    set.revision,
    'delta',
  );
}
