/**
 * The audit log: every admin action (who, when, from where, what changed), written by the API
 * (so idvctl and the console alike), by the console's own actions and by idv-server's local
 * commands. Append-only; read newest first, or after a sequence number for following (the
 * forwarder, server/forward/). An append holds the `audit` lock, so seq order is commit order on
 * both backends (a follower reading `afterSeq` never skips a row that commits later with a
 * smaller seq), and announces the new seq to every replica (notice `audit`, store/notices.ts).
 */
import { announce, AUDIT_TX, type StoreCore } from './core.js';

export interface AuditEntry {
  seq: number;
  at: number;
  /** `admin:NAME` (a console account), `token:abcd1234` (a bearer token), `local` (idv-server). */
  actor: string;
  /** The actor's role at the time. */
  role: string;
  /** The client address, `local` for idv-server commands. */
  source: string;
  /** What was done, like `user.unlock`, `policy.set`, `admin.signin`. */
  action: string;
  /** What it was done to (a user, a device, a device group, an admin), or "". */
  target: string;
  /** What changed (the request's fields, never a secret); small. */
  detail: Record<string, unknown>;
  /** `ok` or the refusal's error code (a refused change is recorded too). */
  result: string;
}

export type NewAuditEntry = Omit<AuditEntry, 'seq'>;

/** Fields never copied into the log: codes, passwords, tokens, secrets. */
const SECRET_KEY = /code|password|token|secret|otp/i;

/** The request's fields without secrets, for the audit log's `detail`. */
export function auditDetail(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return {};
  return Object.fromEntries(
    Object.entries(body as Record<string, unknown>).filter(([k]) => !SECRET_KEY.test(k)),
  );
}

export interface AuditQuery {
  afterSeq?: number;
  beforeSeq?: number;
  actor?: string;
  action?: string;
  limit: number;
}

export interface AuditLog {
  append(entry: NewAuditEntry): Promise<AuditEntry>;
  /** With `afterSeq`: oldest first (following); otherwise newest first. */
  list(q: AuditQuery): Promise<AuditEntry[]>;
}

interface AuditRow {
  seq: number;
  at: number;
  actor: string;
  role: string;
  source: string;
  action: string;
  target: string;
  detail: string;
  result: string;
}

export class SqliteAuditLog implements AuditLog {
  constructor(private readonly core: StoreCore) {}

  private get db(): StoreCore['db'] {
    return this.core.db;
  }

  append(e: NewAuditEntry): Promise<AuditEntry> {
    return this.db.transaction(async (tx) => {
      const r = await tx.get<{ seq: number }>(
        `INSERT INTO audit (at, actor, role, source, action, target, detail, result)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
        [e.at, e.actor, e.role, e.source, e.action, e.target, JSON.stringify(e.detail), e.result],
      );
      const seq = Number(r?.seq);
      await announce(this.core, tx, { kind: 'audit', seq });
      return { ...e, seq };
    }, AUDIT_TX);
  }

  async list(q: AuditQuery): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.afterSeq !== undefined) {
      where.push('seq > ?');
      params.push(q.afterSeq);
    }
    if (q.beforeSeq !== undefined) {
      where.push('seq < ?');
      params.push(q.beforeSeq);
    }
    if (q.actor !== undefined) {
      where.push('actor = ?');
      params.push(q.actor);
    }
    if (q.action !== undefined) {
      where.push('action = ?');
      params.push(q.action);
    }
    const rows = await this.db.all<AuditRow>(
      `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq ${q.afterSeq !== undefined ? 'ASC' : 'DESC'} LIMIT ?`,
      [...params, q.limit],
    );
    return rows.map((r) => ({
      seq: r.seq,
      at: r.at,
      actor: r.actor,
      role: r.role,
      source: r.source,
      action: r.action,
      target: r.target,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
      result: r.result,
    }));
  }
}
