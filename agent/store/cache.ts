/**
 * The agent's offline cache: users (secrets sealed under the cache key), the device's policy and
 * revision, per-user counters (failures, lockout, replay guard) and the outbox of login events.
 *
 * One SQLite file, WAL, synchronous=FULL: every write that the login decision depends on
 * (counters, replay guard) is durable on disk before the answer leaves the agent. A snapshot or
 * delta is applied in one transaction, so a crash mid-apply leaves the previous revision whole.
 *
 * Reads on the login path come from memory: the user rows (secrets still sealed) and the counters
 * are loaded at open and updated only after the write that changes them has committed, so memory
 * never runs ahead of the disk. The agent is the database's only writer while it runs.
 */
import { chmodSync, closeSync, openSync } from 'node:fs';
import { IdvError } from '../../protocol/errors.js';
import { Database, type Queryable } from '../../protocol/io/sqlite.js';
import {
  loginEventSchema,
  totpParamsSchema,
  type Delta,
  type LoginEvent,
  type Snapshot,
  type TotpParams,
  type UserRecord,
} from '../../protocol/messages.js';
import { DEFAULT_POLICY, policySchema, type Policy } from '../../protocol/policy.js';
import { recoveryCodeId } from '../../protocol/recovery.js';
import { z } from 'zod';
import { foldName, type NameIndex } from '../policy/names.js';
import { EventChain } from './chain.js';
import type { CacheCipher } from './crypto.js';
import type { FailpointName, Failpoints } from './failpoint.js';
import {
  HELPDESK_META,
  openHelpdeskKey,
  sealHelpdeskKey,
  type HelpdeskKey,
  type UsedHelpdesk,
} from './helpdesk.js';
import { MIGRATIONS } from './migrations.js';
import { configureLog, keepReserve } from './reserve.js';
import { diskFullError, noSpace, RefusedWhileFull, type DiskFull } from './diskfull.js';

/** A user as the decision needs it, secrets opened. */
export interface CachedUser {
  name: string;
  groups: string[];
  status: 'active' | 'suspended';
  totp: TotpParams | null;
  graceStartedAt: number;
  /** Hashes of the recovery codes still usable here: the server's list minus those used here. */
  recoveryCodes: string[];
  unlockedAt: number | null;
  /** The server locked the account on every device (server time, epoch ms); null: not locked. */
  accountLockedAt: number | null;
  /** While the account lock holds: its failures over all devices (the helpdesk cap); else 0. */
  accountFailures: number;
}

export interface Counters {
  failures: number;
  lastFailureAt: number | null;
  lockedAt: number | null;
  /** null while lockedAt is set: locked until unlocked (lockoutSeconds = 0). */
  lockedUntil: number | null;
  lastStep: number | null;
  /**
   * Self-unlock: the time step of a valid code typed while locked out; the code of the very next
   * step ends the lockout. null when there is none (cleared by any wrong code and any unlock).
   */
  unlockStep: number | null;
  /**
   * Clock skew (agent/policy/skew.ts): the step of a code found only by the wide search, and its
   * offset in steps from the agent's time; the next step's code at that offset logs in.
   */
  skewStep: number | null;
  skewOffset: number | null;
}

export const EMPTY_COUNTERS: Readonly<Counters> = Object.freeze({
  failures: 0,
  lastFailureAt: null,
  lockedAt: null,
  lockedUntil: null,
  lastStep: null,
  unlockStep: null,
  skewStep: null,
  skewOffset: null,
});

/** What the cache knows about its sync state. */
export interface SyncState {
  revision: number;
  deviceGroup: string | null;
  policy: Policy | null;
  /** Last time the cache was known to match the server (epoch ms), null before the first sync. */
  lastSyncAt: number | null;
}

const sealedSchema = z.strictObject({
  totp: totpParamsSchema.nullable(),
  recoveryCodes: z.array(z.string()),
});

interface UserRow {
  name: string;
  groups_json: string;
  status: string;
  grace_started_at: number;
  unlocked_at: number | null;
  account_locked_at: number | null;
  account_failures: number;
  sealed: string;
}
interface CounterRow {
  failures: number;
  last_failure_at: number | null;
  locked_at: number | null;
  locked_until: number | null;
  last_step: number | null;
  unlock_step: number | null;
  skew_step: number | null;
  skew_offset: number | null;
}

/** A recovery code accepted on this device: written with the login's counters and event. */
export interface UsedRecovery {
  /** recoveryCodeId(hash): the hash's salt, never the code. */
  codeId: string;
  at: number;
}

export class Cache {
  #state: SyncState;
  #revoked: boolean;
  #users = new Map<string, UserRow>();
  /** foldName(name) → the cached names with that key (agent/policy/names.ts). */
  #folded = new Map<string, string[]>();
  #counters = new Map<string, Counters>();
  /** Per user, the ids of the recovery codes used here that the server may still list. */
  #used = new Map<string, Set<string>>();
  /** Logins refused because their decision could not be written for lack of space. */
  readonly #full = new RefusedWhileFull();

  private constructor(
    private readonly db: Database,
    private readonly cipher: CacheCipher,
    state: SyncState,
    private readonly failpoints: Failpoints | null,
    revoked: boolean,
    private readonly chain: EventChain,
    /** cache.db's path, for the disk-full message. */
    readonly path: string,
  ) {
    this.#state = state;
    this.#revoked = revoked;
  }

  /** Reloads users and counters from disk (after open and after each apply). */
  async #reload(names?: readonly string[]): Promise<void> {
    if (names === undefined) {
      const users = await this.db.all<UserRow>('SELECT * FROM users');
      const counters = await this.db.all<CounterRow & { name: string }>('SELECT * FROM counters');
      const used = await this.db.all<{ name: string; code_id: string }>(
        'SELECT name, code_id FROM used_recovery',
      );
      this.#users = new Map(users.map((u) => [u.name, u]));
      this.#counters = new Map(counters.map((c) => [c.name, countersOf(c)]));
      this.#used = new Map();
      for (const r of used) this.#markUsed(r.name, r.code_id);
      this.#indexNames();
      return;
    }
    for (const name of names) {
      const u = await this.db.get<UserRow>('SELECT * FROM users WHERE name = ?', [name]);
      const c = await this.db.get<CounterRow>('SELECT * FROM counters WHERE name = ?', [name]);
      const used = await this.db.all<{ code_id: string }>(
        'SELECT code_id FROM used_recovery WHERE name = ?',
        [name],
      );
      if (u) this.#users.set(name, u);
      else this.#users.delete(name);
      if (c) this.#counters.set(name, countersOf(c));
      else this.#counters.delete(name);
      this.#used.delete(name);
      for (const r of used) this.#markUsed(name, r.code_id);
    }
    this.#indexNames();
  }

  #indexNames(): void {
    const folded = new Map<string, string[]>();
    for (const name of this.#users.keys()) {
      const key = foldName(name);
      const list = folded.get(key);
      if (list) list.push(name);
      else folded.set(key, [name]);
    }
    this.#folded = folded;
  }

  /** The cached names, for matchName: exact, and by case-folded key. */
  readonly names: NameIndex = {
    has: (name) => this.#users.has(name),
    folded: (key) => this.#folded.get(key) ?? [],
  };

  #markUsed(name: string, codeId: string): void {
    let set = this.#used.get(name);
    if (!set) this.#used.set(name, (set = new Set()));
    set.add(codeId);
  }

  static async open(
    path: string,
    cipher: CacheCipher,
    failpoints: Failpoints | null = null,
  ): Promise<Cache> {
    // Create the file 0600 before SQLite does (it would use the umask); its -wal and -shm files
    // take the database file's mode.
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
    const db = await Database.open(path, { synchronous: 'FULL' });
    try {
      await db.migrate(MIGRATIONS);
      await configureLog(db);
      const state = await readState(db);
      const revoked = await db.get<{ value: string }>(
        "SELECT value FROM meta WHERE key = 'revoked'",
      );
      const head = await db.get<{ value: string }>(
        "SELECT value FROM meta WHERE key = 'chainHead'",
      );
      const chain = EventChain.fromMeta(head ? JSON.parse(head.value) : undefined);
      const cache = new Cache(
        db,
        cipher,
        state,
        failpoints,
        revoked?.value === 'true',
        chain,
        path,
      );
      await cache.#reload();
      await cache.#keepReserve(true);
      return cache;
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  /** The sync state, from memory (kept equal to the database by every write below). */
  get state(): Readonly<SyncState> {
    return this.#state;
  }

  /** True once the server revoked this device (closed the sync with REVOKED); never cleared. */
  get revoked(): boolean {
    return this.#revoked;
  }

  /**
   * Records the revocation. Memory first (every login from now on is refused, even before the
   * write lands: running ahead of the disk here only refuses more), then durably.
   */
  async markRevoked(): Promise<void> {
    this.#revoked = true;
    await this.setMeta('revoked', true);
  }

  async getUser(name: string): Promise<CachedUser | null> {
    const row = this.#users.get(name);
    return row ? this.#openRow(row) : null;
  }

  async getCounters(name: string): Promise<Counters> {
    return { ...(this.#counters.get(name) ?? EMPTY_COUNTERS) };
  }

  async userCount(): Promise<number> {
    return this.#users.size;
  }

  async userNames(): Promise<string[]> {
    return [...this.#users.keys()].sort();
  }

  /** Users the server locked on every device (the account's budget was reached). */
  accountLockedNames(): string[] {
    return [...this.#users.values()].filter((u) => u.account_locked_at !== null).map((u) => u.name);
  }

  /** Users with counters and a known record, for status (the caller decides which are locked). */
  async countersWithUsers(): Promise<
    { name: string; counters: Counters; unlockedAt: number | null }[]
  > {
    const rows = await this.db.all<CounterRow & { name: string; unlocked_at: number | null }>(
      `SELECT c.*, u.unlocked_at FROM counters c JOIN users u ON u.name = c.name
       WHERE c.locked_at IS NOT NULL ORDER BY c.name`,
    );
    return rows.map((r) => ({ name: r.name, counters: countersOf(r), unlockedAt: r.unlocked_at }));
  }

  /**
   * Writes a user's counters, the decision's event and (for a recovery or helpdesk login) the used
   * code in ONE durable transaction: the answer to the helper is sent only after this resolves.
   */
  async recordDecision(
    name: string,
    counters: Counters | null,
    event: LoginEvent,
    used?: UsedRecovery | UsedHelpdesk,
    /** The test failpoint this write is (agent/store/failpoint.ts): `verify` for a code check. */
    point?: FailpointName,
  ): Promise<void> {
    const link = this.chain.link(event);
    // One sqlite3_exec for the whole transaction: a login's answer waits for one trip to the
    // database thread (and its fsync) instead of four. The values are rendered by sqlLiteral,
    // which accepts only safe integers, null and NUL-free text (quotes doubled), nothing else.
    const statements = [
      ...(counters
        ? [
            // The replay guard only rises: a step pushed from another device while this login
            // was being decided stays.
            `INSERT INTO counters (name, failures, last_failure_at, locked_at, locked_until, last_step, unlock_step, skew_step, skew_offset) VALUES (${[
              name,
              counters.failures,
              counters.lastFailureAt,
              counters.lockedAt,
              counters.lockedUntil,
              counters.lastStep,
              counters.unlockStep,
              counters.skewStep,
              counters.skewOffset,
            ]
              .map(sqlLiteral)
              .join(', ')}) ON CONFLICT (name) DO UPDATE SET failures = excluded.failures,
              last_failure_at = excluded.last_failure_at, locked_at = excluded.locked_at,
              locked_until = excluded.locked_until, unlock_step = excluded.unlock_step,
              skew_step = excluded.skew_step, skew_offset = excluded.skew_offset, ${RAISE_LAST_STEP}`,
          ]
        : []),
      ...(used && 'codeId' in used
        ? [
            `INSERT OR IGNORE INTO used_recovery (name, code_id, used_at) VALUES (${[
              name,
              used.codeId,
              used.at,
            ]
              .map(sqlLiteral)
              .join(', ')})`,
          ]
        : []),
      ...(used && 'codeHash' in used ? usedHelpdeskStatements(name, used) : []),
      ...this.#outboxInsert(link),
    ];
    // BEGIN … COMMIT, or ROLLBACK on failure, in one queue slot: other logins queued meanwhile
    // never run inside this transaction (and are never undone with it).
    try {
      await this.db.script(
        statements.join(';\n'),
        point ? this.failpoints?.hook(point) : undefined,
      );
    } catch (err) {
      this.chain.unlink(link);
      const cause = noSpace(err);
      if (cause === null) throw err;
      this.#full.refused(event, cause);
      throw diskFullError(cause, this.path);
    }
    if (this.#full.state) await this.#reportRefused(event.at);
    if (counters) {
      const before = this.#counters.get(name)?.lastStep ?? null;
      const lastStep =
        before !== null && (counters.lastStep === null || before > counters.lastStep)
          ? before
          : counters.lastStep;
      this.#counters.set(name, { ...counters, lastStep });
    }
    if (used && 'codeId' in used) this.#markUsed(name, used.codeId);
  }

  /** Logins refused for lack of space and not reported yet (null: none). */
  get diskFull(): DiskFull | null {
    return this.#full.state;
  }

  /** Space is back: one event per user refused meanwhile, each written on its own. */
  async #reportRefused(at: number): Promise<void> {
    for (const e of this.#full.summary(at)) {
      try {
        await this.recordEvent(e);
      } catch {
        return; // still no space: the next write tries again
      }
      this.#full.reported(e.user);
    }
  }

  /** This device's helpdesk secret (issue 15); null when it was registered before them. */
  async helpdeskKey(): Promise<HelpdeskKey | null> {
    return openHelpdeskKey(this.cipher, await this.getMeta(HELPDESK_META));
  }

  /** Stores the helpdesk secret from the registration answer, sealed. */
  async setHelpdeskKey(key: HelpdeskKey): Promise<void> {
    await this.setMeta(HELPDESK_META, sealHelpdeskKey(this.cipher, key));
  }

  /** True when this helpdesk code (by hash) was already accepted here for this user. */
  async helpdeskUsed(name: string, codeHash: string): Promise<boolean> {
    const row = await this.db.get(
      'SELECT 1 AS x FROM used_helpdesk WHERE name = ? AND code_hash = ?',
      [name, codeHash],
    );
    return row !== undefined;
  }

  async recordEvent(event: LoginEvent): Promise<void> {
    const link = this.chain.link(event);
    try {
      await this.db.script(this.#outboxInsert(link).join(';\n'));
    } catch (err) {
      this.chain.unlink(link);
      throw err;
    }
  }

  /** The event, chained (agent/store/chain.ts), and the chain head: written together. */
  #outboxInsert(link: ReturnType<EventChain['link']>): string[] {
    return [
      `INSERT INTO outbox (id, body) VALUES (${sqlLiteral(link.event.id)}, ${sqlLiteral(JSON.stringify(link.event))})`,
      `INSERT OR REPLACE INTO meta (key, value) VALUES ('chainHead', ${sqlLiteral(JSON.stringify(link.head))})`,
    ];
  }

  /** Replaces every user, the policy and the revision at once. */
  async applySnapshot(s: Snapshot, now: number): Promise<void> {
    const policy = policySchema.parse(s.policy);
    const before = this.#totpBefore(s.users);
    await this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM users');
      for (const u of s.users) await this.#upsert(tx, u, s.serverTime, now, before);
      await this.#writeState(tx, {
        revision: s.revision,
        deviceGroup: s.deviceGroup,
        policy,
        lastSyncAt: now,
      });
    }, this.failpoints?.hook('snapshot'));
    this.#state = { revision: s.revision, deviceGroup: s.deviceGroup, policy, lastSyncAt: now };
    await this.#reload();
    await this.#keepReserve(false);
  }

  /** Applies a delta on top of exactly its `fromRevision`; anything else is OUT_OF_ORDER. */
  async applyDelta(d: Delta, now: number): Promise<void> {
    if (d.fromRevision !== this.#state.revision || this.#state.policy === null) {
      throw new IdvError(
        'OUT_OF_ORDER',
        `delta from revision ${d.fromRevision} does not apply to revision ${this.#state.revision}`,
      );
    }
    const next: SyncState = {
      ...this.#state,
      revision: d.revision,
      policy: d.policy ?? this.#state.policy,
      lastSyncAt: now,
    };
    const before = this.#totpBefore(d.upsert);
    await this.db.transaction(async (tx) => {
      for (const name of d.remove) await tx.run('DELETE FROM users WHERE name = ?', [name]);
      for (const u of d.upsert) await this.#upsert(tx, u, d.serverTime, now, before);
      await this.#writeState(tx, next);
    }, this.failpoints?.hook('delta'));
    // Users first, then the revision: whoever sees the new revision sees its users too.
    await this.#reload([...d.remove, ...d.upsert.map((u) => u.name)]);
    this.#state = next;
    await this.#keepReserve(false);
  }

  /** Space kept for logins on a full disk (./reserve.ts); without space it keeps what is left. */
  async #keepReserve(always: boolean): Promise<void> {
    await keepReserve(this.db, always).catch(() => undefined);
  }

  /** Records that the cache was in sync with the server at `at` (heartbeat, disconnect). */
  async touchSync(at: number): Promise<void> {
    if (this.#state.policy === null) return;
    await this.db.run('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', [
      'lastSyncAt',
      JSON.stringify(at),
    ]);
    this.#state = { ...this.#state, lastSyncAt: at };
  }

  async getMeta(key: string): Promise<unknown> {
    const row = await this.db.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [key]);
    return row ? (JSON.parse(row.value) as unknown) : undefined;
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    await this.db.run('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', [
      key,
      JSON.stringify(value),
    ]);
  }

  /** The oldest events first, at most `limit`. A row that no longer parses is dropped. */
  async outboxBatch(limit: number): Promise<LoginEvent[]> {
    const rows = await this.db.all<{ id: string; body: string }>(
      'SELECT id, body FROM outbox ORDER BY seq LIMIT ?',
      [limit],
    );
    const events: LoginEvent[] = [];
    for (const r of rows) {
      const parsed = loginEventSchema.safeParse(JSON.parse(r.body));
      if (parsed.success) events.push(parsed.data);
      else await this.db.run('DELETE FROM outbox WHERE id = ?', [r.id]);
    }
    return events;
  }

  async outboxCount(): Promise<number> {
    const row = await this.db.get<{ n: number }>('SELECT count(*) AS n FROM outbox');
    return row?.n ?? 0;
  }

  async deleteEvents(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    // One statement (at most MAX_EVENTS_PER_BATCH ids, under SQLite's 32766 parameters).
    await this.db.run(`DELETE FROM outbox WHERE id IN (${ids.map(() => '?').join(', ')})`, [
      ...ids,
    ]);
  }

  /** Integrity check for doctor and the crash tests. */
  async integrity(): Promise<string> {
    const row = await this.db.get<{ integrity_check: string }>('PRAGMA integrity_check');
    return row?.integrity_check ?? 'unknown';
  }

  close(): Promise<void> {
    return this.db.close();
  }

  #openRow(row: UserRow): CachedUser {
    const sealed = sealedSchema.parse(JSON.parse(this.cipher.open(row.sealed, row.name)));
    const used = this.#used.get(row.name);
    return {
      name: row.name,
      groups: z.array(z.string()).parse(JSON.parse(row.groups_json)),
      status: row.status === 'active' ? 'active' : 'suspended',
      totp: sealed.totp,
      graceStartedAt: row.grace_started_at,
      recoveryCodes: used
        ? sealed.recoveryCodes.filter((h) => !used.has(recoveryCodeId(h) ?? ''))
        : sealed.recoveryCodes,
      unlockedAt: row.unlocked_at,
      accountLockedAt: row.account_locked_at,
      accountFailures: row.account_locked_at === null ? 0 : row.account_failures,
    };
  }

  /**
   * The TOTP parameters the cache holds now for the users about to be written (from memory,
   * which mirrors the disk). A user not in the cache is absent from the map.
   */
  #totpBefore(users: readonly UserRecord[]): Map<string, TotpParams | null | 'unknown'> {
    const before = new Map<string, TotpParams | null | 'unknown'>();
    for (const u of users) {
      const row = this.#users.get(u.name);
      if (!row) continue;
      try {
        before.set(u.name, this.#openRow(row).totp);
      } catch {
        before.set(u.name, 'unknown');
      }
    }
    return before;
  }

  async #upsert(
    tx: Queryable,
    u: UserRecord,
    serverTime: number,
    now: number,
    before: ReadonlyMap<string, TotpParams | null | 'unknown'>,
  ): Promise<void> {
    // unlockedAt is compared with lockedAt / lastFailureAt, which are our clock: store it on our
    // clock too. Otherwise a server clock ahead of ours would clear every failure counted before
    // that future moment (no lockout at all), and one behind ours would miss a real unlock.
    const unlockedAt = u.unlockedAt === null ? null : ourClock(u.unlockedAt, serverTime, now);
    const sealed = this.cipher.seal(
      JSON.stringify({ totp: u.totp, recoveryCodes: u.recoveryCodes }),
      u.name,
    );
    await tx.run(
      `INSERT OR REPLACE INTO users (name, groups_json, status, grace_started_at, unlocked_at, account_locked_at, account_failures, enrolled, sealed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        u.name,
        JSON.stringify(u.groups),
        u.status,
        u.graceStartedAt,
        unlockedAt,
        u.accountLockedAt ?? null,
        u.accountFailures ?? 0,
        u.totp ? 1 : 0,
        sealed,
      ],
    );
    // An admin unlock clears what started before it (lockout, and failures counted before it).
    if (unlockedAt !== null) {
      await tx.run(
        `UPDATE counters SET failures = 0, last_failure_at = NULL, locked_at = NULL, locked_until = NULL, unlock_step = NULL
         WHERE name = ? AND (locked_at <= ? OR (locked_at IS NULL AND last_failure_at <= ?))`,
        [u.name, unlockedAt, unlockedAt],
      );
    }
    // A new secret (re-enrollment after a reset) starts a new sequence of time steps: the replay
    // guard of the old secret would refuse the new app's code in the step of the last old code.
    // Only a secret known to differ resets it; a user new to this cache (never seen, or removed
    // and added back) keeps whatever guard it has: at worst one refused step, never a replay.
    const old = before.get(u.name);
    if (old !== undefined && old !== 'unknown' && !sameTotp(old, u.totp)) {
      await tx.run('UPDATE counters SET last_step = NULL WHERE name = ?', [u.name]);
    }
    // The fleet-wide replay guard (a step accepted on another device): this device refuses that
    // step and older ones too. Only ever raised here, after the reset above.
    if (u.lastStep !== undefined && u.lastStep !== null) {
      await tx.run(
        `INSERT INTO counters (name, last_step) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET ${RAISE_LAST_STEP}`,
        [u.name, u.lastStep],
      );
    }
    // Used recovery codes stay filtered out while the server still lists them (it has not
    // received our event yet); once it no longer does, the row has done its job.
    if (this.#used.has(u.name)) {
      const listed = u.recoveryCodes.flatMap((h) => recoveryCodeId(h) ?? []);
      await tx.run(
        `DELETE FROM used_recovery WHERE name = ? AND code_id NOT IN (${listed.map(() => '?').join(', ')})`,
        [u.name, ...listed],
      );
    }
  }

  async #writeState(tx: Queryable, s: SyncState): Promise<void> {
    for (const [k, v] of Object.entries(s)) {
      await tx.run('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', [
        k,
        JSON.stringify(v),
      ]);
    }
  }
}

/**
 * A used helpdesk code recorded, and codes expired for a day forgotten (the day: a clock set
 * back a little must not make a used code new again).
 */
function usedHelpdeskStatements(name: string, used: UsedHelpdesk): string[] {
  return [
    `DELETE FROM used_helpdesk WHERE expires_at <= ${sqlLiteral(used.at - 86_400_000)}`,
    `INSERT OR IGNORE INTO used_helpdesk (name, code_hash, expires_at, used_at) VALUES (${[
      name,
      used.codeHash,
      used.expiresAt,
      used.at,
    ]
      .map(sqlLiteral)
      .join(', ')})`,
  ];
}

/** `last_step` of an upsert into counters: the higher of the row's and the new one. */
const RAISE_LAST_STEP = `last_step = CASE WHEN counters.last_step IS NULL OR excluded.last_step > counters.last_step
  THEN excluded.last_step ELSE counters.last_step END`;

async function readState(db: Database): Promise<SyncState> {
  const rows = await db.all<{ key: string; value: string }>('SELECT key, value FROM meta');
  const m = new Map(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
  const policy = m.get('policy');
  // Fields added to the policy later take their default until the next sync brings them.
  const parsedPolicy =
    policy === undefined || policy === null
      ? null
      : policySchema.parse({ ...DEFAULT_POLICY, ...(policy as object) });
  return {
    revision: z
      .number()
      .int()
      .min(0)
      .parse(m.get('revision') ?? 0),
    deviceGroup: z
      .string()
      .nullable()
      .parse(m.get('deviceGroup') ?? null),
    policy: parsedPolicy,
    lastSyncAt: z
      .number()
      .nullable()
      .parse(m.get('lastSyncAt') ?? null),
  };
}

/**
 * A server timestamp on our clock, using the serverTime of the same message as the offset (off by
 * the message's transit time only), and never later than now: an unlock cannot lie in our future.
 */
export function ourClock(serverMs: number, serverTime: number, now: number): number {
  return Math.min(now, serverMs - (serverTime - now));
}

function sameTotp(a: TotpParams | null, b: TotpParams | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.secret === b.secret &&
    a.algorithm === b.algorithm &&
    a.digits === b.digits &&
    a.period === b.period
  );
}

function countersOf(r: CounterRow): Counters {
  return {
    failures: r.failures,
    lastFailureAt: r.last_failure_at,
    lockedAt: r.locked_at,
    lockedUntil: r.locked_until,
    lastStep: r.last_step,
    unlockStep: r.unlock_step,
    skewStep: r.skew_step,
    skewOffset: r.skew_offset,
  };
}

/**
 * A value as an SQLite literal, for the one statement batch above. Only safe integers, null and
 * text without NUL are accepted; text is single-quoted with quotes doubled, which is the complete
 * escaping rule of SQLite string literals (no backslash escapes exist). Anything else throws.
 */
export function sqlLiteral(v: unknown): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new IdvError('INTERNAL', 'not a safe integer');
    return String(v);
  }
  if (typeof v === 'string') {
    if (v.includes('\u0000')) throw new IdvError('INTERNAL', 'text with NUL');
    return `'${v.replace(/'/g, "''")}'`;
  }
  throw new IdvError('INTERNAL', `unsupported SQL value type ${typeof v}`);
}
