/**
 * The PostgreSQL driver: a `pg` pool, `?` placeholders numbered `$1..$n`, BIGINT read as numbers
 * (ms timestamps; a value past 2^53 is refused, never rounded), every transaction SERIALIZABLE
 * with bounded retry on serialization failures and deadlocks, and a lost connection, a full
 * disk (53100) or a read-only database (25006: default_transaction_read_only, a standby) told
 * apart as STORE_UNAVAILABLE (503) naming the cause (health.ts). A statement of a transaction
 * unanswered for STATEMENT_WAIT_MS is a lost connection too: a network cut that drops packets
 * sends no reset, and TCP alone would hold the request (and the pooled connection) for minutes.
 * The schema version lives in
 * `schema_migrations`.
 */
import pg from 'pg';
import { IdvError } from '../../protocol/errors.js';
import {
  migrationSql,
  storeUnavailable,
  txState,
  type Db,
  type Migration,
  type Queryable,
  type Tx,
  type TxOptions,
} from './db.js';
import { StoreFaultError, StoreHealth } from './health.js';

const INT8_OID = 20;
const MAX_ATTEMPTS = 12;
/**
 * Client-side wait for one statement of a transaction (not for migrations, which may run long):
 * far above any statement idv sends, short enough that a silent network cut frees the request.
 */
const STATEMENT_WAIT_MS = 15_000;
/** Held while migrating, so two replicas starting at once apply each migration once. */
const MIGRATION_LOCK = 0x1d5_0001;

function parseBigint(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`BIGINT ${text} does not fit a JS number`);
  return n;
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? parseBigint
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

/** `?` → `$n`, outside quotes and comments. */
const translated = new Map<string, string>();
export function numberPlaceholders(sql: string): string {
  const cached = translated.get(sql);
  if (cached !== undefined) return cached;
  let out = '';
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      out += `$${++n}`;
    } else {
      out += c;
    }
  }
  if (translated.size < 10_000) translated.set(sql, out);
  return out;
}

/** A password in a database URL, replaced for logs and messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

type Failure = 'retry' | 'lost' | 'busy' | 'full' | 'readonly' | null;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

function classify(err: unknown): Failure {
  if (err instanceof pg.DatabaseError) {
    const code = err.code ?? '';
    if (code === '40001' || code === '40P01') return 'retry';
    if (code === '53100') return 'full';
    if (code === '25006') return 'readonly';
    // lock_timeout / statement_timeout ran out (a long migration, a stuck transaction): retryable
    if (code === '55P03' || code === '57014') return 'busy';
    // connection exceptions, shutdown / crash / starting up, too many connections
    if (code.startsWith('08') || code.startsWith('57P') || code === '53300') return 'lost';
    return null;
  }
  const e = err as { code?: string; message?: string } | null;
  if (e?.code && NETWORK_CODES.has(e.code)) return 'lost';
  if (
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout/i.test(
      e?.message ?? '',
    )
  )
    return 'lost';
  return null;
}

function reasonOf(err: unknown): string {
  if (err instanceof pg.DatabaseError) return `${err.code ?? 'error'}: ${err.message}`;
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message ?? 'connection failed';
}

/** Marks an error raised by the database itself (as opposed to one thrown by a callback). */
class DbFailure extends Error {
  constructor(
    readonly kind: Failure,
    override readonly cause: unknown,
  ) {
    super(reasonOf(cause));
  }
}

async function query(
  client: pg.PoolClient,
  sql: string,
  params: readonly unknown[] = [],
  waitMs = STATEMENT_WAIT_MS,
) {
  try {
    return await client.query({
      text: numberPlaceholders(sql),
      values: params as unknown[],
      ...(waitMs > 0 ? { query_timeout: waitMs } : {}),
    });
  } catch (err) {
    throw new DbFailure(classify(err), err);
  }
}

function bound(client: pg.PoolClient): Queryable {
  return {
    run: async (sql, params) => ({ changes: (await query(client, sql, params)).rowCount ?? 0 }),
    get: async <T>(sql: string, params?: readonly unknown[]) =>
      (await query(client, sql, params)).rows[0] as T | undefined,
    all: async <T>(sql: string, params?: readonly unknown[]) =>
      (await query(client, sql, params)).rows as T[],
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PostgresDbOptions {
  /** Connections per process (default 10). */
  maxConnections?: number;
  /** Told when an idle connection breaks (the pool replaces it); never carries a password. */
  onIdleError?: (reason: string) => void;
}

export class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  readonly health = new StoreHealth();
  /** Serialization failures and deadlocks retried so far (tests read it). */
  retries = 0;
  /** Transactions open in the database right now, and the most ever at once (tests read it). */
  open = 0;
  maxOpen = 0;

  private constructor(private readonly pool: pg.Pool) {}

  /** A pool for `url` (postgres://USER[:PASSWORD]@HOST:PORT/DB); connects lazily. */
  static open(url: string, options: PostgresDbOptions = {}): PostgresDb {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      types,
      application_name: 'idv-server',
    });
    // An idle connection killed by a restart must not crash the process; the pool drops it.
    pool.on('error', (err) => options.onIdleError?.(reasonOf(err)));
    return new PostgresDb(pool);
  }

  run(sql: string, params?: readonly unknown[]) {
    return this.transaction((tx) => tx.run(sql, params));
  }
  get<T>(sql: string, params?: readonly unknown[]) {
    return this.transaction((tx) => tx.get<T>(sql, params), { readOnly: isSelect(sql) });
  }
  all<T>(sql: string, params?: readonly unknown[]) {
    return this.transaction((tx) => tx.all<T>(sql, params), { readOnly: isSelect(sql) });
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw new DbFailure(classify(err) ?? 'lost', err);
    }
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>, options: TxOptions = {}): Promise<T> {
    return this.health.track((counted) => this.attempts((tx) => fn(counted(tx)), options));
  }

  private async attempts<T>(fn: (tx: Tx) => Promise<T>, options: TxOptions): Promise<T> {
    const tables = [...new Set(options.serialize ?? [])].sort();
    for (const t of tables)
      if (!/^[a-z_][a-z0-9_]*$/.test(t)) throw new Error(`not a table name: ${t}`);
    for (let attempt = 1; ; attempt++) {
      const state = txState(options);
      let client: pg.PoolClient | null = null;
      let committing = false;
      let began = false;
      try {
        client = await this.connect();
        await query(
          client,
          `BEGIN ISOLATION LEVEL SERIALIZABLE${options.readOnly ? ' READ ONLY' : ''}`,
        );
        began = true;
        this.maxOpen = Math.max(this.maxOpen, ++this.open);
        // Before any other statement: the snapshot is taken after the locks are held.
        for (const t of tables) await query(client, `LOCK TABLE ${t} IN SHARE ROW EXCLUSIVE MODE`);
        const result = await fn({
          ...bound(client),
          serializes: state.serializes,
          afterCommit: state.afterCommit,
        });
        committing = true;
        await query(client, 'COMMIT');
        this.open--;
        began = false;
        client.release();
        client = null;
        state.committed();
        return result;
      } catch (err) {
        if (began) this.open--;
        const kind = err instanceof DbFailure ? err.kind : null;
        if (client) {
          if (kind === 'lost') client.release(true);
          else {
            await client.query('ROLLBACK').catch(() => undefined);
            client.release();
          }
        }
        if (kind === 'retry' && attempt < MAX_ATTEMPTS) {
          this.retries++;
          await sleep(Math.min(200, 2 ** attempt) * (0.5 + Math.random()));
          continue;
        }
        // A pooled connection that died while idle (a restart): one more try on a fresh one,
        // unless COMMIT was already sent (then whether it committed is unknown).
        if (kind === 'lost' && attempt === 1 && !committing) continue;
        if (err instanceof DbFailure) {
          if (kind === 'lost') throw storeUnavailable(err.message);
          if (kind === 'retry')
            throw storeUnavailable('too many conflicting transactions; nothing was written');
          if (kind === 'busy') throw storeUnavailable(err.message);
          if (kind === 'full') throw new StoreFaultError('disk full', err.message);
          if (kind === 'readonly') throw new StoreFaultError('read-only', err.message);
          throw err.cause;
        }
        throw err;
      }
    }
  }

  async migrate(migrations: readonly Migration[]): Promise<number> {
    const client = await this.connect().catch((err: unknown) => {
      throw err instanceof DbFailure ? storeUnavailable(err.message) : err;
    });
    try {
      // No statement wait: a migration, or the lock held while another replica migrates, may last.
      const q = (sql: string, params?: unknown[]) => query(client, sql, params, 0);
      await q('SELECT pg_advisory_lock(?)', [MIGRATION_LOCK]);
      try {
        await q(
          `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`,
        );
        const current = await currentVersion(q);
        if (current > migrations.length) {
          throw new IdvError(
            'CONFIG_INVALID',
            `database schema version ${current} is newer than this program (${migrations.length})`,
          );
        }
        for (let v = current; v < migrations.length; v++) {
          await q('BEGIN');
          try {
            await client.query(migrationSql(migrations[v] as Migration, 'postgres'));
            await q('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [
              v + 1,
              Date.now(),
            ]);
            await q('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw err;
          }
        }
      } finally {
        await q('SELECT pg_advisory_unlock(?)', [MIGRATION_LOCK]).catch(() => undefined);
      }
      client.release();
      return migrations.length;
    } catch (err) {
      client.release(true);
      if (err instanceof DbFailure)
        throw err.kind === 'lost' ? storeUnavailable(err.message) : err.cause;
      throw err;
    }
  }

  async schemaVersion(): Promise<number> {
    const exists = await this.get<{ t: string | null }>(
      `SELECT to_regclass('schema_migrations')::text AS t`,
    );
    if (!exists?.t) return 0;
    const row = await this.get<{ v: number | null }>(
      'SELECT MAX(version) AS v FROM schema_migrations',
    );
    return row?.v ?? 0;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

async function currentVersion(
  q: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>,
): Promise<number> {
  const r = await q('SELECT MAX(version) AS v FROM schema_migrations');
  return (r.rows[0] as { v: number | null } | undefined)?.v ?? 0;
}

function isSelect(sql: string): boolean {
  return /^\s*SELECT\b/i.test(sql);
}
