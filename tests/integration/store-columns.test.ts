/**
 * Every numeric column of the schema holds the largest number the store reads back exactly
 * (Number.MAX_SAFE_INTEGER: ms timestamps, TOTP steps, counters), on SQLite and on a real
 * PostgreSQL, after every migration. PostgreSQL's INTEGER is 32-bit: a column declared so
 * refuses a ms timestamp ("value ... is out of range for type integer"), which once kept the
 * account lock from ever being written (issue 22).
 *
 * The columns come from the database's own catalog, so a column added later is covered too.
 * One row per numeric column: that column at the maximum, the other numbers 0, every text 'x'
 * (users and admins first, so each REFERENCES finds its row); then read back through the driver.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox } from '../../server/store/crypto.js';
import type { Db } from '../../server/store/db.js';
import { PostgresDb } from '../../server/store/db-postgres.js';
import { MIGRATIONS } from '../../server/store/migrations.js';
import { openStore } from '../../server/store/open.js';
import { postgresCluster, storeBackends } from '../helpers/stores.js';

const backends = await storeBackends();
const MAX = Number.MAX_SAFE_INTEGER;

interface Column {
  table: string;
  name: string;
  numeric: boolean;
}

async function columns(db: Db): Promise<Column[]> {
  if (db.dialect === 'postgres') {
    const rows = await db.all<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
    );
    return rows.map((r) => ({
      table: r.table_name,
      name: r.column_name,
      numeric: /int|numeric|real|double/i.test(r.data_type),
    }));
  }
  const rows = await db.all<{ tbl: string; name: string; type: string }>(
    `SELECT m.name AS tbl, p.name AS name, p.type AS type
       FROM sqlite_master AS m, pragma_table_info(m.name) AS p
      WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`,
  );
  return rows.map((r) => ({
    table: r.tbl,
    name: r.name,
    numeric: /int|real|num|double/i.test(r.type),
  }));
}

const quote = (name: string) => `"${name}"`;

describe.each(backends)('schema on $name', (backend) => {
  const test = it.skipIf(backend.skip !== null);
  if (backend.skip) it.skip(`postgres: ${backend.skip}`, () => undefined);

  test('every numeric column stores and reads back Number.MAX_SAFE_INTEGER', async () => {
    const { store } = await backend.fresh();
    const db = store.db;
    const all = await columns(db);
    const tables = [...new Set(all.map((c) => c.table))].sort(
      (a, b) => Number(!['users', 'admins'].includes(a)) - Number(!['users', 'admins'].includes(b)),
    );
    const numeric = all.filter((c) => c.numeric);
    // The audit is only as good as its catalog query: the known timestamp columns are in it.
    expect(numeric.map((c) => `${c.table}.${c.name}`)).toEqual(
      expect.arrayContaining(['users.account_locked_at', 'events.at', 'admins.locked_at']),
    );
    const refused: string[] = [];
    for (const table of tables) {
      const cols = all.filter((c) => c.table === table);
      // One column at its maximum at a time (the others 0), so every refusal is named.
      const insert = (target: Column | null) =>
        db.run(
          `INSERT INTO ${quote(table)} (${cols.map((c) => quote(c.name)).join(', ')})
           VALUES (${cols.map(() => '?').join(', ')})`,
          cols.map((c) => (c === target ? MAX : c.numeric ? 0 : 'x')),
        );
      for (const target of cols.filter((c) => c.numeric)) {
        await db.run(`DELETE FROM ${quote(table)}`);
        try {
          await insert(target);
        } catch (err) {
          refused.push(`${table}.${target?.name}: ${(err as Error).message}`);
          continue;
        }
        const row = await db.get<Record<string, unknown>>(
          `SELECT ${quote(target.name)} AS v FROM ${quote(table)}`,
        );
        if (row?.v !== MAX) refused.push(`${table}.${target.name} read back ${String(row?.v)}`);
      }
      // The row the tables after this one may reference.
      await db.run(`DELETE FROM ${quote(table)}`);
      await insert(null);
    }
    expect(refused).toEqual([]);
  });
});

describe.skipIf(postgresCluster() === null)(
  'a PostgreSQL database made before migration 12',
  () => {
    it('is converted in place: its counts kept, and the account lock (a ms timestamp) written', async () => {
      const url = await postgresCluster()!.createDatabase();
      const old = PostgresDb.open(url);
      await old.migrate(MIGRATIONS.slice(0, 11));
      const T = 1_800_000_000_000;
      const device = randomUUID();
      const event = randomUUID();
      await old.run(
        `INSERT INTO users (name, groups, status, grace_started_at, created_at, account_failures)
       VALUES ('alice', '[]', 'active', ?, ?, 2)`,
        [T, T],
      );
      await old.run(
        `INSERT INTO events (id, device_id, at, "user", service, outcome, received_at)
       VALUES (?, ?, ?, 'alice', 'sshd', 'fail', ?)`,
        [event, device, T, T],
      );
      // The bug as it was: the third failure's lock does not fit the column.
      await expect(
        old.run('UPDATE users SET account_locked_at = ? WHERE name = ?', [T, 'alice']),
      ).rejects.toThrow(/out of range for type integer/);
      await old.close();

      const store = await openStore({ postgres: url }, new SecretBox(randomBytes(32)));
      try {
        expect(await store.getUser('alice')).toMatchObject({ accountFailures: 2 });
        const r = await store.applyAccount(
          device,
          [{ eventId: event, user: 'alice', kind: 'failure', maxFailures: 3 }],
          T,
        );
        expect(r.locked).toEqual([{ user: 'alice', failures: 3 }]);
        expect(await store.getUser('alice')).toMatchObject({
          accountFailures: 3,
          accountLockedAt: T,
        });
      } finally {
        await store.close();
      }
    });
  },
);
