/**
 * The portal's shared state, in the database so that every replica sees the same: sessions,
 * sign-in failure counters (per name and per client address) and the last TOTP step accepted
 * per user. The rules (expiry, lockout, which step is newer) live in server/portal/; this file
 * only reads and writes rows, each call in one transaction.
 *
 * Portable SQL (SQLite and PostgreSQL): `?` placeholders, `INSERT … ON CONFLICT`, BIGINT epoch
 * ms, no `FOR UPDATE` — a no-op `UPDATE` takes the row lock on PostgreSQL, and SQLite's
 * `BEGIN IMMEDIATE` serializes writers anyway. Values come back as numbers or strings
 * (node-postgres returns BIGINT as a string), so every number read goes through `Number`.
 *
 * Why the portal's sessions are another table (`portal_sessions`, server/store/portal-state.ts)
 * and not a `portal` realm of `web_sessions`: both keep only the id's SHA-256, a CSRF token and
 * an idle and an absolute lifetime, and both are in the store so every replica knows them, but
 * the portal page is public and differs where it matters. It makes a session before anyone signs
 * in (an enrollment link opened, the sign-in form shown), so its table has a cap with the
 * anonymous sessions evicted first, so that a flood of page views cannot push out people who are
 * enrolling; and a portal session briefly holds a secret, the fresh recovery codes between
 * enrollment and the page that shows them, sealed with the master key (`fresh_codes_sealed`),
 * where `web_sessions.data` is stored as is and must never hold one. Folding them into one table
 * means moving that cap and that sealed column into `web_sessions` and migrating live portal
 * sessions; the portal's limits and replicas tests cover today's table, so it was not done in the
 * same change as the console. What they do share is the code around them: the cookie, origin and
 * CSRF checks and one sign-out route (`signOutRoute` in server/portal/http.ts).
 */
import type { Queryable } from './db.js';
import type { SecretBox } from './crypto.js';

/** The tables, appended as one migration on each backend. */
export const PORTAL_TABLES = `
  CREATE TABLE portal_sessions (
    id_hash TEXT PRIMARY KEY,
    user_name TEXT,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    signed_in INTEGER NOT NULL,
    enrolling TEXT,
    fresh_codes_sealed TEXT,
    totp_fp TEXT,
    notice TEXT
  );
  CREATE INDEX portal_sessions_seen ON portal_sessions (last_seen_at);
  CREATE TABLE portal_limits (
    limit_key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    locked_at BIGINT,
    last_failure_at BIGINT NOT NULL,
    generation TEXT NOT NULL
  );
  CREATE INDEX portal_limits_last ON portal_limits (last_failure_at);
  CREATE TABLE portal_totp_steps (
    user_name TEXT PRIMARY KEY,
    step BIGINT NOT NULL
  );
`;

/** Runs `fn` in one transaction (`?` placeholders; `run` reports the rows it changed). */
export interface SqlRunner {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

export interface SessionRow {
  /** SHA-256 of the cookie value: the cookie itself is never stored. */
  idHash: string;
  user: string | null;
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
  signedIn: boolean;
  enrolling: string | null;
  freshCodes: string[] | null;
  totpFp: string | null;
  notice: string | null;
}

export type SessionPatch = Partial<Pick<SessionRow, 'enrolling' | 'freshCodes' | 'notice'>>;

/** One key's failure counter (`generation` changes each time the counter starts afresh). */
export interface LimitEntry {
  failures: number;
  lockedAt: number | null;
  lastFailureAt: number;
  generation: string;
}

export interface PortalStore {
  /**
   * Adds a session after removing those idle since `idleBefore` or created before
   * `createdBefore`; at `max` sessions the oldest anonymous one (else the oldest) makes room.
   */
  createSession(
    row: SessionRow,
    limits: { idleBefore: number; createdBefore: number; max: number },
  ): Promise<void>;
  /** The session, its last-seen time set to `now`; null (and removed) when expired. */
  touchSession(
    idHash: string,
    now: number,
    limits: { idleBefore: number; createdBefore: number },
  ): Promise<SessionRow | null>;
  updateSession(idHash: string, patch: SessionPatch): Promise<void>;
  deleteSession(idHash: string): Promise<void>;

  /**
   * Reads the key's counter, lets `decide` compute the next one (null: forget it) and writes it,
   * all in one transaction that holds the row: concurrent callers on any replica take turns.
   */
  updateLimit<T>(
    key: string,
    decide: (entry: LimitEntry | null) => { next: LimitEntry | null; result: T },
  ): Promise<T>;
  /** Forgets counters whose last failure is older than `before` and that are not locked. */
  pruneLimits(before: number): Promise<number>;

  /** The last TOTP step accepted at portal sign-in for `user`, or null. */
  lastTotpStep(user: string): Promise<number | null>;
  /** Records `step` when it is newer than the last one; false when it is not (a replay). */
  claimTotpStep(user: string, step: number): Promise<boolean>;
}

interface SessionDbRow {
  id_hash: string;
  user_name: string | null;
  csrf: string;
  created_at: number | string;
  last_seen_at: number | string;
  signed_in: number | string;
  enrolling: string | null;
  fresh_codes_sealed: string | null;
  totp_fp: string | null;
  notice: string | null;
}

interface LimitDbRow {
  failures: number | string;
  locked_at: number | string | null;
  last_failure_at: number | string;
  generation: string;
}

export class SqlPortalStore implements PortalStore {
  constructor(
    private readonly db: SqlRunner,
    private readonly box: SecretBox,
  ) {}

  /** Recovery codes shown until saved are secrets: sealed like TOTP secrets, bound to the row. */
  private sealCodes(idHash: string, codes: string[] | null): string | null {
    return codes ? this.box.seal(JSON.stringify(codes), `portal-codes:${idHash}`) : null;
  }

  private openCodes(idHash: string, sealed: string | null): string[] | null {
    return sealed
      ? (JSON.parse(this.box.open(sealed, `portal-codes:${idHash}`)) as string[])
      : null;
  }

  private toSession(r: SessionDbRow): SessionRow {
    return {
      idHash: r.id_hash,
      user: r.user_name,
      csrf: r.csrf,
      createdAt: Number(r.created_at),
      lastSeenAt: Number(r.last_seen_at),
      signedIn: Number(r.signed_in) === 1,
      enrolling: r.enrolling,
      freshCodes: this.openCodes(r.id_hash, r.fresh_codes_sealed),
      totpFp: r.totp_fp,
      notice: r.notice,
    };
  }

  async createSession(
    row: SessionRow,
    limits: { idleBefore: number; createdBefore: number; max: number },
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM portal_sessions WHERE last_seen_at < ? OR created_at < ?', [
        limits.idleBefore,
        limits.createdBefore,
      ]);
      const count = await tx.get<{ n: number | string }>(
        'SELECT COUNT(*) AS n FROM portal_sessions',
      );
      if (Number(count?.n ?? 0) >= limits.max) {
        // A flood of page views must not push out people who are signed in or enrolling.
        const victim =
          (await tx.get<{ id_hash: string }>(
            'SELECT id_hash FROM portal_sessions WHERE user_name IS NULL ORDER BY created_at, id_hash LIMIT 1',
          )) ??
          (await tx.get<{ id_hash: string }>(
            'SELECT id_hash FROM portal_sessions ORDER BY created_at, id_hash LIMIT 1',
          ));
        if (victim) await tx.run('DELETE FROM portal_sessions WHERE id_hash = ?', [victim.id_hash]);
      }
      await tx.run(
        `INSERT INTO portal_sessions (id_hash, user_name, csrf, created_at, last_seen_at, signed_in,
           enrolling, fresh_codes_sealed, totp_fp, notice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          row.idHash,
          row.user,
          row.csrf,
          row.createdAt,
          row.lastSeenAt,
          row.signedIn ? 1 : 0,
          row.enrolling,
          this.sealCodes(row.idHash, row.freshCodes),
          row.totpFp,
          row.notice,
        ],
      );
    });
  }

  async touchSession(
    idHash: string,
    now: number,
    limits: { idleBefore: number; createdBefore: number },
  ): Promise<SessionRow | null> {
    return this.db.transaction(async (tx) => {
      const r = await tx.get<SessionDbRow>('SELECT * FROM portal_sessions WHERE id_hash = ?', [
        idHash,
      ]);
      if (!r) return null;
      const s = this.toSession(r);
      if (s.lastSeenAt < limits.idleBefore || s.createdAt < limits.createdBefore) {
        await tx.run('DELETE FROM portal_sessions WHERE id_hash = ?', [idHash]);
        return null;
      }
      await tx.run('UPDATE portal_sessions SET last_seen_at = ? WHERE id_hash = ?', [now, idHash]);
      return { ...s, lastSeenAt: now };
    });
  }

  async updateSession(idHash: string, patch: SessionPatch): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (patch.enrolling !== undefined) {
      sets.push('enrolling = ?');
      params.push(patch.enrolling);
    }
    if (patch.freshCodes !== undefined) {
      sets.push('fresh_codes_sealed = ?');
      params.push(this.sealCodes(idHash, patch.freshCodes));
    }
    if (patch.notice !== undefined) {
      sets.push('notice = ?');
      params.push(patch.notice);
    }
    if (sets.length === 0) return;
    await this.db.transaction((tx) =>
      tx.run(`UPDATE portal_sessions SET ${sets.join(', ')} WHERE id_hash = ?`, [
        ...params,
        idHash,
      ]),
    );
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.transaction((tx) =>
      tx.run('DELETE FROM portal_sessions WHERE id_hash = ?', [idHash]),
    );
  }

  async updateLimit<T>(
    key: string,
    decide: (entry: LimitEntry | null) => { next: LimitEntry | null; result: T },
  ): Promise<T> {
    return this.db.transaction(async (tx) => {
      // Make sure the row exists (failures 0 stands for "no counter"), then take its lock.
      await tx.run(
        `INSERT INTO portal_limits (limit_key, failures, locked_at, last_failure_at, generation)
         VALUES (?, 0, NULL, 0, '') ON CONFLICT (limit_key) DO NOTHING`,
        [key],
      );
      await tx.run('UPDATE portal_limits SET failures = failures WHERE limit_key = ?', [key]);
      const r = await tx.get<LimitDbRow>(
        'SELECT failures, locked_at, last_failure_at, generation FROM portal_limits WHERE limit_key = ?',
        [key],
      );
      const entry: LimitEntry | null =
        r && Number(r.failures) > 0
          ? {
              failures: Number(r.failures),
              lockedAt: r.locked_at === null ? null : Number(r.locked_at),
              lastFailureAt: Number(r.last_failure_at),
              generation: r.generation,
            }
          : null;
      const { next, result } = decide(entry);
      if (next === null || next.failures <= 0) {
        await tx.run('DELETE FROM portal_limits WHERE limit_key = ?', [key]);
      } else {
        await tx.run(
          `UPDATE portal_limits SET failures = ?, locked_at = ?, last_failure_at = ?, generation = ?
           WHERE limit_key = ?`,
          [next.failures, next.lockedAt, next.lastFailureAt, next.generation, key],
        );
      }
      return result;
    });
  }

  async pruneLimits(before: number): Promise<number> {
    const r = await this.db.transaction((tx) =>
      tx.run('DELETE FROM portal_limits WHERE locked_at IS NULL AND last_failure_at < ?', [before]),
    );
    return r.changes;
  }

  async lastTotpStep(user: string): Promise<number | null> {
    const r = await this.db.transaction((tx) =>
      tx.get<{ step: number | string }>('SELECT step FROM portal_totp_steps WHERE user_name = ?', [
        user,
      ]),
    );
    return r ? Number(r.step) : null;
  }

  async claimTotpStep(user: string, step: number): Promise<boolean> {
    const r = await this.db.transaction((tx) =>
      tx.run(
        `INSERT INTO portal_totp_steps (user_name, step) VALUES (?, ?)
         ON CONFLICT (user_name) DO UPDATE SET step = excluded.step
         WHERE portal_totp_steps.step < excluded.step`,
        [user, step],
      ),
    );
    return r.changes === 1;
  }
}
