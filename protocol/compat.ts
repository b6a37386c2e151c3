/**
 * What each sync protocol version knows, and how a message is cut down for an older peer.
 *
 * An agent or server of protocol 1 parses with strict schemas: one key it does not know and the
 * whole frame is refused (the connection closes 4400 and the agent retries forever). So neither
 * side may send a peer a field, message kind or outcome newer than the connection's negotiated
 * version (protocol/version.ts). The rule, for everyone adding to the sync channel:
 *
 *   - V1 below is frozen: what version 1 peers accept. Never edit it.
 *   - Every addition since (a policy field, a user-record field, a field of a sync message, a
 *     new message kind in either direction, a new login outcome) gets one line in SINCE with the
 *     version that brings it: 2 for everything added while SYNC_PROTOCOL.max is 2. A unit test
 *     (tests/unit/compat.test.ts) fails when a schema key is in neither.
 *   - The server sends snapshots and deltas through forSession() (fields newer than the session
 *     are dropped, top-level keys of the message, of `policy` and of each user record); a new
 *     message kind is sent only when speaks(session, kind). The agent does the same for what it
 *     sends (eventsForSession, fieldsForSession, speaks), and the server reads a hello through
 *     fieldsForSession (a newer key on an older session is ignored, not acted upon).
 *   - This build must accept what an older peer sends: a new message or user-record field is
 *     optional in its schema; a new policy field may be required if DEFAULT_POLICY has it (the
 *     agent fills it in from there for an older session, fromSession).
 *   - A dropped field must leave an older agent safe: it behaves as it did before the field
 *     existed. A new value of an existing enum, or a wider range, is a change an older peer refuses:
 *     add a field instead.
 */
import type { Delta, LoginEvent, Outcome, Snapshot, UserRecord } from './messages.js';
import { DEFAULT_POLICY, type Policy } from './policy.js';

/** Version 1, frozen: what its strict schemas accept. */
export const V1 = Object.freeze({
  policy: [
    'mfa',
    'userGroups',
    'services',
    'maxAttempts',
    'lockoutSeconds',
    'window',
    'offlineMaxAgeSeconds',
    'failMode',
    'exemptUsers',
    'enrollmentGraceDays',
    'prompts',
    'unknownUsers',
  ],
  user: ['name', 'groups', 'status', 'totp', 'graceStartedAt', 'recoveryCodes', 'unlockedAt'],
  event: ['id', 'at', 'user', 'service', 'outcome', 'rhost', 'tty', 'reason', 'recoveryCodeId'],
  outcomes: ['skip', 'prompt', 'ok', 'invalid', 'locked', 'deny', 'unlock', 'failopen'],
  /** Message kinds and their keys, server → agent and agent → server. */
  messages: {
    challenge: ['type', 'v', 'nonce', 'serverTime'],
    snapshot: ['type', 'revision', 'serverTime', 'deviceGroup', 'policy', 'users'],
    delta: ['type', 'fromRevision', 'revision', 'serverTime', 'policy', 'upsert', 'remove'],
    eventsAck: ['type', 'ids'],
    hello: ['type', 'v', 'deviceId', 'signature', 'revision', 'agentVersion', 'facts'],
    ack: ['type', 'revision'],
    events: ['type', 'events'],
  },
} as const);

type Versions = Readonly<Record<string, number>>;

/** Additions since version 1 and the sync version each needs (append; never remove). */
export const SINCE: {
  readonly policy: Versions;
  readonly user: Versions;
  readonly event: Versions;
  /** New message kinds, either direction. */
  readonly messages: Versions;
  /** New keys of existing (or new) message kinds, by kind. */
  readonly fields: Readonly<Record<string, Versions>>;
  /** New outcomes: the version, and the version-1 outcome an older server is sent instead. */
  readonly outcomes: Readonly<Record<string, { version: number; fallback: Outcome }>>;
} = Object.freeze({
  policy: {
    accountMaxFailures: 2,
    selfUnlock: 2,
    trustedNetworks: 2,
    rememberSeconds: 2,
  },
  user: {
    lastStep: 2,
    accountLockedAt: 2,
    accountFailures: 2,
  },
  event: {
    step: 2,
    chainSeq: 2,
    prevHash: 2,
  },
  messages: {
    signed: 2,
    signingKeys: 2,
    // A replica cut from the database's notifications tells its agents (server/store/staleness.ts).
    serverStatus: 3,
    // A revoked device's last upload of its outbox (server/sync/connection.ts).
    revoked: 3,
    // A device registered before helpdesk codes gets its secret, and says it kept it (issue 26).
    helpdeskSecret: 4,
    helpdeskAck: 4,
  },
  fields: {
    // Sent only to agents that said their range in the upgrade request (and so know the key).
    challenge: { protocol: 2 },
    // The agent's nonce for signed updates: only to a server on version 2 or later.
    hello: { nonce: 2 },
    // The server's time at each acknowledged upload (agent/clock/trusted.ts).
    eventsAck: { serverTime: 2 },
  },
  outcomes: {
    tamper: { version: 2, fallback: 'deny' },
  },
});

/**
 * The newest version any added field or outcome needs: sessions at or above it need no cutting
 * (a new message kind is never cut, only not sent: speaks()).
 */
const NEWEST = Math.max(
  1,
  ...[SINCE.policy, SINCE.user, SINCE.event, ...Object.values(SINCE.fields)]
    .flatMap((t) => Object.values(t))
    .concat(Object.values(SINCE.outcomes).map((o) => o.version)),
);

const needs = (table: Versions | undefined, key: string): number => table?.[key] ?? 1;

function cut<T extends object>(obj: T, table: Versions | undefined, version: number): T {
  if (!table) return obj;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (needs(table, k) <= version) out[k] = v;
  return out as T;
}

/** True when a peer on this session version knows the message kind. */
export function speaks(version: number, kind: string): boolean {
  return needs(SINCE.messages, kind) <= version;
}

/**
 * A message's own keys as a peer on `version` knows them (SINCE.fields): the same object when
 * current. Both sides send through it (the agent's hello.nonce only to a version-2 server), and
 * the server reads a hello through it (a key newer than the session means nothing there).
 */
export function fieldsForSession<T extends { type: string }>(msg: T, version: number): T {
  return version >= NEWEST ? msg : cut(msg, SINCE.fields[msg.type], version);
}

/** A snapshot or delta as an agent on `version` may receive it (the same object when current). */
export function forSession<T extends Snapshot | Delta>(msg: T, version: number): T {
  if (version >= NEWEST) return msg;
  // A copy: the server's message is shared by every connection of the group.
  const out = { ...cut(msg, SINCE.fields[msg.type], version) } as Record<string, unknown>;
  if (out.policy) out.policy = cut(out.policy as Policy, SINCE.policy, version);
  for (const list of ['users', 'upsert']) {
    if (Array.isArray(out[list]))
      out[list] = (out[list] as UserRecord[]).map((u) => cut(u, SINCE.user, version));
  }
  return out as T;
}

/**
 * The first key of a snapshot or delta that a peer on `version` would not know, as a path
 * (`policy.selfUnlock`), or null. The agent checks what it receives with it when the session
 * is older than its own newest version: it refuses what an older agent's schemas would.
 */
export function newerField(msg: Snapshot | Delta, version: number): string | null {
  if (version >= NEWEST) return null;
  const first = (obj: object, table: Versions | undefined, prefix: string): string | null => {
    for (const k of Object.keys(obj)) if (needs(table, k) > version) return prefix + k;
    return null;
  };
  const m = msg as unknown as Record<string, unknown>;
  const top = first(m, SINCE.fields[msg.type], '');
  if (top) return top;
  if (m.policy) {
    const p = first(m.policy as object, SINCE.policy, 'policy.');
    if (p) return p;
  }
  for (const list of ['users', 'upsert']) {
    const users = Array.isArray(m[list]) ? (m[list] as unknown[]) : [];
    for (const u of users) {
      if (typeof u !== 'object' || u === null) continue;
      const f = first(u, SINCE.user, `${list}[].`);
      if (f) return f;
    }
  }
  return null;
}

/**
 * Agent side, on a frame's JSON before the schema, when the session is older than this build:
 * refuses (returns the path of) a key an agent of that version would refuse, and gives a policy
 * the fields the session does not carry, at their defaults, so this build's schemas accept it.
 * A field left at its default must mean what the older version did.
 */
export function fromSession(data: Record<string, unknown>, version: number): string | null {
  if (version >= NEWEST || (data.type !== 'snapshot' && data.type !== 'delta')) return null;
  const newer = newerField(data as unknown as Snapshot, version);
  if (newer !== null)
    return `${String(data.type)} carries ${newer}, which sync protocol ${version} does not have`;
  const policy = data.policy;
  if (typeof policy === 'object' && policy !== null && !Array.isArray(policy)) {
    const p = policy as Record<string, unknown>;
    const defaults = DEFAULT_POLICY as Readonly<Record<string, unknown>>;
    for (const key of Object.keys(SINCE.policy))
      if ((SINCE.policy[key] ?? 1) > version && !(key in p) && key in defaults)
        p[key] = defaults[key];
  }
  return null;
}

/** Login events as a server on `version` accepts them: newer outcomes fall back, newer keys go. */
export function eventsForSession(events: LoginEvent[], version: number): LoginEvent[] {
  if (version >= NEWEST) return events;
  return events.map((e) => {
    const out = cut(e, SINCE.event, version);
    const added = SINCE.outcomes[e.outcome];
    return added && added.version > version ? { ...out, outcome: added.fallback } : out;
  });
}
