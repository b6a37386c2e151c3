/**
 * idv-server on a real PostgreSQL: `init --database`, replicas on copies of the data folder,
 * the password never shown, and PostgreSQL stopped and started under a running server (503
 * STORE_UNAVAILABLE, nothing half-written, recovery without a restart).
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PASSWORD_ROLE, POSTGRES_MISSING, startPostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/agent.js';
import { idvctl, run, SERVER_BIN, startServer } from '../helpers/server.js';

const cluster = POSTGRES_MISSING ? null : await startPostgres();
const base = mkdtempSync(join(tmpdir(), 'idv-server-pg-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function noPassword(...texts: string[]): void {
  for (const t of texts) expect(t).not.toContain(PASSWORD_ROLE.password);
}

describe.skipIf(cluster === null)(
  `idv-server --database (${POSTGRES_MISSING ?? 'postgres'})`,
  () => {
    it('init creates the schema and the key folder; replicas share the data; no password shown', async () => {
      const url = await cluster!.createDatabase({ withPassword: true });
      const dir = join(base, 'a');
      const init = await run(SERVER_BIN, ['init', '--database', url, '--data-dir', dir, '--json']);
      expect(init.code, init.stderr).toBe(0);
      noPassword(init.stdout, init.stderr);
      const { adminToken } = init.json as { adminToken: string };
      expect(readdirSync(dir).sort()).toEqual(['master.key', 'signing.json']); // the data is in PostgreSQL
      const db = new URL(url).pathname.slice(1);
      const migrations = await cluster!.query(db, 'SELECT version FROM schema_migrations');
      expect(migrations.rows.length).toBeGreaterThan(0);

      // init again on the same database: refused, nothing left behind, still no password.
      const again = await run(SERVER_BIN, [
        'init',
        '--database',
        url,
        '--data-dir',
        join(base, 'x'),
        '--json',
      ]);
      expect(again.code).toBe(1);
      expect(again.stdout + again.stderr).toMatch(/ALREADY_INITIALIZED/);
      noPassword(again.stdout, again.stderr);
      expect(existsSync(join(base, 'x'))).toBe(false);

      // Two replicas: one on --database, one on IDV_DATABASE_URL, each with a copy of the folder.
      const copy = join(base, 'b');
      cpSync(dir, copy, { recursive: true });
      const a = await startServer({ dataDir: dir, database: url });
      const b = await startServer({ dataDir: copy, env: { IDV_DATABASE_URL: url } });
      const added = await idvctl(a, ['user', 'add', 'ann', '--group', 'ops']);
      expect(added.code, added.stderr).toBe(0);
      const listed = await idvctl({ url: b.url, adminToken }, ['user', 'list']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(JSON.stringify(listed.json)).toContain('"ann"');
      noPassword(a.logs(), b.logs());
      await a.stop();
      await b.stop();
      noPassword(a.logs(), b.logs());

      // A folder with another key is refused, not served with secrets it cannot open.
      const stranger = join(base, 'c');
      const other = await run(SERVER_BIN, ['init', '--data-dir', stranger, '--json']);
      expect(other.code).toBe(0);
      rmSync(join(stranger, 'idv.db'));
      const wrongKey = await run(SERVER_BIN, [
        'admin-token',
        'create',
        '--data-dir',
        stranger,
        '--database',
        url,
        '--json',
      ]);
      expect(wrongKey.code).toBe(1);
      expect(wrongKey.stdout + wrongKey.stderr).toMatch(
        /not the master key this database was initialised with/,
      );
      noPassword(wrongKey.stdout, wrongKey.stderr);
    });

    it('a wrong password is a clear error that does not show it', async () => {
      const url = await cluster!.createDatabase({ withPassword: true });
      const wrong = url.replace(PASSWORD_ROLE.password, `${PASSWORD_ROLE.password}-wrong`);
      const r = await run(SERVER_BIN, [
        'init',
        '--database',
        wrong,
        '--data-dir',
        join(base, 'w'),
        '--json',
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/password authentication failed/);
      noPassword(r.stdout, r.stderr);
      expect(existsSync(join(base, 'w'))).toBe(false);
    });

    it('PostgreSQL stopped under a running server: 503 STORE_UNAVAILABLE, nothing half-written, then it recovers', async () => {
      const url = await cluster!.createDatabase();
      const server = await startServer({ database: url });
      expect((await idvctl(server, ['user', 'add', 'before'])).code).toBe(0);
      await cluster!.stop();
      try {
        const down = await idvctl(server, ['user', 'add', 'during']);
        expect(down.code).toBe(1);
        expect(down.stdout + down.stderr).toMatch(/STORE_UNAVAILABLE/);
        const health = await fetch(`${server.url}/healthz`);
        expect(health.status).toBe(503);
        expect(((await health.json()) as { code: string }).code).toBe('STORE_UNAVAILABLE');
        expect(server.process().exitCode).toBeNull(); // still running
      } finally {
        await cluster!.start();
      }
      // Back by itself: no restart of idv-server.
      // Until the pool has a connection again, however long that takes under load.
      const after = await waitFor(
        async () => {
          const r = await idvctl(server, ['user', 'add', 'after']);
          return r.code === 0 ? r : null;
        },
        'idv-server to reach PostgreSQL again',
        60_000,
      );
      expect(after.code, after.stdout + after.stderr).toBe(0);
      const list = await idvctl(server, ['user', 'list']);
      const names = (list.json as { users: { name: string }[] }).users.map((u) => u.name).sort();
      expect(names).toEqual(['after', 'before']);
      await server.stop();
      expect(server.logs()).toMatch(/STORE_UNAVAILABLE|database is unavailable/);
    });
  },
);
