/**
 * Test helper: the Store on each backend, for suites that must hold on both (the contract).
 *
 *   const backends = await storeBackends();        // starts this file's PostgreSQL cluster
 *   describe.each(backends)('$name', (backend) => {
 *     it('...', async () => { const { store, replica } = await backend.fresh(); ... });
 *   });
 *
 * `fresh()` is an empty, migrated store (a new SQLite file / a new PostgreSQL database), closed
 * after the test. A suite of real servers runs on both the same way: `startServer({ database:
 * await backend.database() })` (undefined: SQLite in the server's data dir; else a new database). `replica()` is another store on the same database, as a second idv-server
 * would open it (SQLite has one process per file: there it returns the same store).
 * Without PostgreSQL installed the postgres backend is skipped, with `skip` saying why; under
 * IDV_REQUIRE_E2E=1 that is a failure.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { SecretBox } from '../../server/store/crypto.js';
import { openStore, type StoreLocation } from '../../server/store/open.js';
import type { SqlStore, StoreOptions } from '../../server/store/sql-store.js';
import { POSTGRES_MISSING, startPostgres, type PgCluster } from './postgres.js';

export interface FreshStore {
  store: SqlStore;
  key: Buffer;
  location: StoreLocation;
  /** Another store on the same database (PostgreSQL), or the same store (SQLite). */
  replica(options?: StoreOptions & { key?: Buffer }): Promise<SqlStore>;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** Why this backend cannot run here (its suites skip), or null. */
  skip: string | null;
  fresh(options?: StoreOptions): Promise<FreshStore>;
  /** startServer's `database`: undefined for SQLite (the data dir's own), a new empty database. */
  database(): Promise<string | undefined>;
}

const open: SqlStore[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
});

let cluster: PgCluster | null = null;
afterAll(() => {
  cluster?.remove();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function track(
  location: StoreLocation,
  key: Buffer,
  options: StoreOptions,
): Promise<SqlStore> {
  const s = await openStore(location, new SecretBox(key), options);
  open.push(s);
  return s;
}

async function freshAt(location: StoreLocation, options: StoreOptions): Promise<FreshStore> {
  const key = randomBytes(32);
  const store = await track(location, key, options);
  return {
    store,
    key,
    location,
    replica: async (o = {}) =>
      'sqlite' in location ? store : track(location, o.key ?? key, { ...options, ...o }),
  };
}

/** Both backends; the PostgreSQL cluster (one per test file) starts here. */
export async function storeBackends(): Promise<Backend[]> {
  if (!POSTGRES_MISSING) cluster = await startPostgres();
  const pg = cluster;
  return [
    {
      name: 'sqlite',
      skip: null,
      fresh: (options = {}) => {
        const dir = mkdtempSync(join(tmpdir(), 'idv-store-'));
        dirs.push(dir);
        return freshAt({ sqlite: join(dir, 'idv.db') }, options);
      },
      database: () => Promise.resolve(undefined),
    },
    {
      name: 'postgres',
      skip: pg ? null : (POSTGRES_MISSING ?? 'PostgreSQL did not start'),
      fresh: async (options = {}) =>
        freshAt({ postgres: await (pg as PgCluster).createDatabase() }, options),
      database: () => (pg as PgCluster).createDatabase(),
    },
  ];
}

/** The PostgreSQL cluster of this file (after storeBackends), for tests that stop and start it. */
export function postgresCluster(): PgCluster | null {
  return cluster;
}
