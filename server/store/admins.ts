/**
 * Admin accounts of the console (not login users): a name, a role, a scrypt password hash, an
 * authenticator secret (sealed like users' secrets), recovery-code hashes, and the sign-in
 * counter with its lockout — all in the store, so every replica sees the same count.
 *
 * Every counter change is a compare-and-set (`UPDATE ... WHERE failures = ?`), retried on a lost
 * race: portable SQL that stays correct when several replicas write the same row.
 */
import { IdvError } from '../../protocol/errors.js';
import type { Queryable } from './db.js';
import { totpParamsSchema, type TotpParams } from '../../protocol/messages.js';
import { recoveryCodeId } from '../../protocol/recovery.js';
import type { SecretBox } from './crypto.js';

export const ADMIN_ROLES = ['admin', 'helpdesk'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface AdminState {
  name: string;
  role: AdminRole;
  /** `setup`: the set-up link was issued and not finished yet. */
  status: 'setup' | 'active';
  /** `scrypt$...` (server/console/password.ts), null until set-up is finished. */
  passwordHash: string | null;
  totp: TotpParams | null;
  /** The secret shown on the set-up page, until its first code confirms it. */
  pendingTotp: TotpParams | null;
  recoveryCodes: string[];
  /** Failed sign-in attempts since the last success or unlock (reserved ones included). */
  failures: number;
  lockedAt: number | null;
  lastStep: number | null;
  createdAt: number;
  createdBy: string;
  lastSignInAt: number | null;
}

export interface AdminLimits {
  maxAttempts: number;
  /** 0 = until another admin unlocks. */
  lockoutSeconds: number;
}

export type AttemptReservation =
  { ok: true; failuresBefore: number } | { ok: false; until: number | null };

export interface AdminAccounts {
  /** A new account waiting for set-up (or a fresh link for one not set up yet). */
  create(
    name: string,
    role: AdminRole,
    setup: { tokenHash: string; expiresAt: number },
    by: string,
    at: number,
  ): Promise<AdminState>;
  get(name: string): Promise<AdminState | null>;
  list(): Promise<AdminState[]>;
  /** The admin an unexpired set-up token belongs to; with `spend`, the token is used up. */
  openSetup(tokenHash: string, now: number, spend: boolean): Promise<string | null>;
  /** The secret shown on the set-up page (replaced each time the page opens afresh). */
  setPendingTotp(name: string, totp: TotpParams): Promise<void>;
  /** Password, confirmed secret and recovery codes at once; the account becomes active. */
  completeSetup(
    name: string,
    done: { passwordHash: string; expectedSecret: string; recoveryHashes: string[]; step: number },
    at: number,
  ): Promise<AdminState>;
  /**
   * Counts one sign-in attempt before it is judged (so a parallel burst cannot pass the check
   * together): refused while locked; the attempt that reaches `maxAttempts` locks the account.
   */
  reserveAttempt(name: string, limits: AdminLimits, now: number): Promise<AttemptReservation>;
  /** The reserved attempt succeeded: the count starts again. */
  attemptSucceeded(name: string, at: number): Promise<void>;
  /** The reserved attempt was not judged after all: uncount it. */
  releaseAttempt(name: string, limits: AdminLimits): Promise<void>;
  unlock(name: string, at: number): Promise<AdminState>;
  /** Records an accepted TOTP step; false when this step (or a later one) was used already. */
  acceptStep(name: string, step: number): Promise<boolean>;
  /** Removes one recovery code by id; false when it was already used. */
  useRecoveryCode(name: string, id: string): Promise<boolean>;
  remove(name: string): Promise<void>;
  /**
   * Removes an account, or gives it another role; refused (LAST_ADMIN) when that would leave no
   * active account of role admin. Returns the account as it was.
   */
  removeGuarded(name: string): Promise<AdminState>;
  setRole(name: string, role: AdminRole): Promise<AdminState>;
}

interface AdminRow {
  name: string;
  role: string;
  status: string;
  password_hash: string | null;
  totp_sealed: string | null;
  pending_sealed: string | null;
  setup_hash: string | null;
  setup_expires_at: number | null;
  failures: number;
  locked_at: number | null;
  last_step: number | null;
  created_at: number;
  created_by: string;
  last_signin_at: number | null;
}

/** Whether the account is locked at `now`, and until when (null: until another admin unlocks). */
export function lockStateOf(
  a: Pick<AdminState, 'failures' | 'lockedAt'>,
  limits: AdminLimits,
  now: number,
): { locked: boolean; until: number | null } {
  if (a.lockedAt === null) return { locked: false, until: null };
  const until = limits.lockoutSeconds === 0 ? null : a.lockedAt + limits.lockoutSeconds * 1000;
  if (until !== null && now >= until) return { locked: false, until: null };
  return { locked: true, until };
}

export class SqliteAdminAccounts implements AdminAccounts {
  constructor(
    private readonly db: {
      get: Queryable['get'];
      all: Queryable['all'];
      run: Queryable['run'];
      transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
    },
    private readonly box: SecretBox,
  ) {}

  private toAdmin(row: AdminRow, codes: string[]): AdminState {
    return {
      name: row.name,
      role: row.role === 'admin' ? 'admin' : 'helpdesk',
      status: row.status === 'active' ? 'active' : 'setup',
      passwordHash: row.password_hash,
      totp: row.totp_sealed ? this.open(row.totp_sealed, row.name) : null,
      pendingTotp: row.pending_sealed ? this.open(row.pending_sealed, row.name) : null,
      recoveryCodes: codes,
      failures: row.failures,
      lockedAt: row.locked_at,
      lastStep: row.last_step,
      createdAt: row.created_at,
      createdBy: row.created_by,
      lastSignInAt: row.last_signin_at,
    };
  }

  private open(sealed: string, name: string): TotpParams {
    return totpParamsSchema.parse(JSON.parse(this.box.open(sealed, `admin-totp:${name}`)));
  }

  private seal(totp: TotpParams, name: string): string {
    return this.box.seal(JSON.stringify(totp), `admin-totp:${name}`);
  }

  private async read(tx: Queryable, name: string): Promise<AdminState | null> {
    const row = await tx.get<AdminRow>('SELECT * FROM admins WHERE name = ?', [name]);
    if (!row) return null;
    const codes = await tx.all<{ hash: string }>(
      'SELECT hash FROM admin_recovery_codes WHERE admin = ? ORDER BY id',
      [name],
    );
    return this.toAdmin(
      row,
      codes.map((c) => c.hash),
    );
  }

  private async mustRead(tx: Queryable, name: string): Promise<AdminState> {
    const a = await this.read(tx, name);
    if (!a) throw new IdvError('ADMIN_NOT_FOUND', `no admin ${name}`);
    return a;
  }

  create(
    name: string,
    role: AdminRole,
    setup: { tokenHash: string; expiresAt: number },
    by: string,
    at: number,
  ): Promise<AdminState> {
    return this.db.transaction(async (tx) => {
      const existing = await this.read(tx, name);
      if (existing?.status === 'active')
        throw new IdvError('ADMIN_EXISTS', `admin ${name} already exists and is set up`);
      if (existing) {
        await tx.run(
          'UPDATE admins SET role = ?, setup_hash = ?, setup_expires_at = ?, pending_sealed = NULL WHERE name = ?',
          [role, setup.tokenHash, setup.expiresAt, name],
        );
      } else {
        await tx.run(
          `INSERT INTO admins (name, role, status, setup_hash, setup_expires_at, failures, created_at, created_by)
           VALUES (?, ?, 'setup', ?, ?, 0, ?, ?)`,
          [name, role, setup.tokenHash, setup.expiresAt, at, by],
        );
      }
      return this.mustRead(tx, name);
    });
  }

  get(name: string): Promise<AdminState | null> {
    return this.db.transaction((tx) => this.read(tx, name));
  }

  list(): Promise<AdminState[]> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.all<{ name: string }>('SELECT name FROM admins ORDER BY name');
      const out: AdminState[] = [];
      for (const r of rows) out.push(await this.mustRead(tx, r.name));
      return out;
    });
  }

  async openSetup(tokenHash: string, now: number, spend: boolean): Promise<string | null> {
    const row = await this.db.get<{ name: string }>(
      `SELECT name FROM admins WHERE setup_hash = ? AND setup_expires_at > ? AND status = 'setup'`,
      [tokenHash, now],
    );
    if (!row) return null;
    if (!spend) return row.name;
    // Only one request can spend it: the row must still hold this hash.
    const r = await this.db.run(
      'UPDATE admins SET setup_hash = NULL, setup_expires_at = NULL WHERE name = ? AND setup_hash = ?',
      [row.name, tokenHash],
    );
    return r.changes === 1 ? row.name : null;
  }

  async setPendingTotp(name: string, totp: TotpParams): Promise<void> {
    const r = await this.db.run(
      `UPDATE admins SET pending_sealed = ? WHERE name = ? AND status = 'setup'`,
      [this.seal(totp, name), name],
    );
    if (r.changes !== 1) throw new IdvError('ADMIN_NOT_FOUND', `no admin ${name} to set up`);
  }

  completeSetup(
    name: string,
    done: { passwordHash: string; expectedSecret: string; recoveryHashes: string[]; step: number },
    at: number,
  ): Promise<AdminState> {
    return this.db.transaction(async (tx) => {
      const a = await this.mustRead(tx, name);
      if (a.status !== 'setup' || a.pendingTotp?.secret !== done.expectedSecret)
        throw new IdvError('TOKEN_INVALID', 'this set-up is no longer current');
      await tx.run(
        `UPDATE admins SET status = 'active', password_hash = ?, totp_sealed = ?, pending_sealed = NULL,
           failures = 0, locked_at = NULL, last_step = ?, last_signin_at = ? WHERE name = ?`,
        [done.passwordHash, this.seal(a.pendingTotp, name), done.step, at, name],
      );
      await tx.run('DELETE FROM admin_recovery_codes WHERE admin = ?', [name]);
      for (const hash of done.recoveryHashes) {
        await tx.run('INSERT INTO admin_recovery_codes (admin, id, hash) VALUES (?, ?, ?)', [
          name,
          recoveryCodeId(hash),
          hash,
        ]);
      }
      return this.mustRead(tx, name);
    });
  }

  async reserveAttempt(
    name: string,
    limits: AdminLimits,
    now: number,
  ): Promise<AttemptReservation> {
    for (;;) {
      const row = await this.db.get<AdminRow>(
        'SELECT failures, locked_at FROM admins WHERE name = ?',
        [name],
      );
      if (!row) return { ok: true, failuresBefore: 0 }; // unknown names are refused anyway
      const state = lockStateOf({ failures: row.failures, lockedAt: row.locked_at }, limits, now);
      if (state.locked) return { ok: false, until: state.until };
      // A lockout that ran out starts the count again.
      const before = row.locked_at === null ? row.failures : 0;
      const after = before + 1;
      const r = await this.db.run(
        `UPDATE admins SET failures = ?, locked_at = ? WHERE name = ? AND failures = ? AND ${
          row.locked_at === null ? 'locked_at IS NULL' : 'locked_at = ?'
        }`,
        [
          after,
          after >= limits.maxAttempts ? now : null,
          name,
          row.failures,
          ...(row.locked_at === null ? [] : [row.locked_at]),
        ],
      );
      if (r.changes === 1) return { ok: true, failuresBefore: before };
    }
  }

  async attemptSucceeded(name: string, at: number): Promise<void> {
    await this.db.run(
      'UPDATE admins SET failures = 0, locked_at = NULL, last_signin_at = ? WHERE name = ?',
      [at, name],
    );
  }

  async releaseAttempt(name: string, limits: AdminLimits): Promise<void> {
    for (;;) {
      const row = await this.db.get<AdminRow>(
        'SELECT failures, locked_at FROM admins WHERE name = ?',
        [name],
      );
      if (!row || row.failures <= 0) return;
      const after = row.failures - 1;
      const lockedAt = after < limits.maxAttempts ? null : row.locked_at;
      const r = await this.db.run(
        'UPDATE admins SET failures = ?, locked_at = ? WHERE name = ? AND failures = ?',
        [after, lockedAt, name, row.failures],
      );
      if (r.changes === 1) return;
    }
  }

  unlock(name: string, at: number): Promise<AdminState> {
    return this.db.transaction(async (tx) => {
      await this.mustRead(tx, name);
      void at;
      await tx.run('UPDATE admins SET failures = 0, locked_at = NULL WHERE name = ?', [name]);
      return this.mustRead(tx, name);
    });
  }

  async acceptStep(name: string, step: number): Promise<boolean> {
    const r = await this.db.run(
      'UPDATE admins SET last_step = ? WHERE name = ? AND (last_step IS NULL OR last_step < ?)',
      [step, name, step],
    );
    return r.changes === 1;
  }

  async useRecoveryCode(name: string, id: string): Promise<boolean> {
    const r = await this.db.run('DELETE FROM admin_recovery_codes WHERE admin = ? AND id = ?', [
      name,
      id,
    ]);
    return r.changes === 1;
  }

  /** True when some other active account has role admin (read inside the change's transaction). */
  private async anotherAdmin(tx: Queryable, name: string): Promise<boolean> {
    const row = await tx.get<{ n: number }>(
      "SELECT COUNT(*) AS n FROM admins WHERE role = 'admin' AND status = 'active' AND name <> ?",
      [name],
    );
    return Number(row?.n ?? 0) > 0;
  }

  private async mustKeepOne(tx: Queryable, a: AdminState): Promise<void> {
    if (a.role === 'admin' && a.status === 'active' && !(await this.anotherAdmin(tx, a.name)))
      throw new IdvError(
        'LAST_ADMIN',
        `${a.name} is the last active admin: add and set up another admin first`,
      );
  }

  removeGuarded(name: string): Promise<AdminState> {
    return this.db.transaction(async (tx) => {
      const a = await this.mustRead(tx, name);
      await this.mustKeepOne(tx, a);
      await tx.run('DELETE FROM admins WHERE name = ?', [name]);
      return a;
    });
  }

  setRole(name: string, role: AdminRole): Promise<AdminState> {
    return this.db.transaction(async (tx) => {
      const a = await this.mustRead(tx, name);
      if (role !== 'admin') await this.mustKeepOne(tx, a);
      await tx.run('UPDATE admins SET role = ? WHERE name = ?', [role, name]);
      return a;
    });
  }

  async remove(name: string): Promise<void> {
    const r = await this.db.run('DELETE FROM admins WHERE name = ?', [name]);
    if (r.changes !== 1) throw new IdvError('ADMIN_NOT_FOUND', `no admin ${name}`);
  }
}
