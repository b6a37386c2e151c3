/**
 * A store that cannot write (issue 22): its disk full, made read-only, its tables locked or
 * the database stopped, under a running idv-server. Every request that needed it answers the
 * catalogued, retryable 503 STORE_UNAVAILABLE naming the cause (idvctl prints it), /healthz says
 * so (503, ok: false, the cause) until a write succeeds again, nothing is half-written, and it
 * all recovers without a restart. The portal tells a store failure from a spent link (issue 27).
 *
 * SQLite on a real 2 MB tmpfs filled to the last block (needs root to mount; skipped without,
 * a failure under IDV_REQUIRE_E2E=1); PostgreSQL on a real cluster.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/agent.js';
import { POSTGRES_MISSING, startPostgres } from '../helpers/postgres.js';
import { missing } from '../helpers/require.js';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import { Client } from './portal-client.js';

const TMPFS_MISSING = missing({ root: true, commands: ['mount', 'umount'] });
const cluster = POSTGRES_MISSING ? null : await startPostgres();
const base = mkdtempSync(join(tmpdir(), 'idv-store-faults-'));
const servers: TestServer[] = [];
const mounts: string[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  rmSync(base, { recursive: true, force: true });
});

interface Health {
  ok: boolean;
  database?: string;
  code?: string;
  message?: string;
}

async function health(server: TestServer): Promise<{ status: number; body: Health }> {
  const res = await fetch(`${server.url}/healthz`);
  return { status: res.status, body: (await res.json()) as Health };
}

async function addUser(server: TestServer, name: string) {
  const res = await fetch(`${server.url}/v1/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
}

async function userNames(server: TestServer): Promise<string[]> {
  const r = await idvctl(server, ['user', 'list']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return (r.json as { users: { name: string }[] }).users.map((u) => u.name).sort();
}

/** What idvctl prints for a refused `user add` (--json: {"error": {code, message}}). */
async function refusedAdd(server: TestServer, name: string): Promise<string> {
  const r = await idvctl(server, ['user', 'add', name]);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  const e = (r.json as { error: { code: string; message: string } }).error;
  expect(e.code).toBe('STORE_UNAVAILABLE');
  return e.message;
}

/** Fills the file system at `dir` to its last block; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}

describe.skipIf(TMPFS_MISSING !== null)(
  `SQLite on a full disk (${TMPFS_MISSING ?? 'tmpfs'})`,
  { timeout: 120_000 },
  () => {
    it('answers 503 STORE_UNAVAILABLE "disk is full", healthz says so, nothing half-written; recovers when space is freed', async () => {
      const mnt = join(base, 'mnt');
      mkdirSync(mnt);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mnt]);
      mounts.push(mnt);
      const server = await startServer({ dataDir: join(mnt, 'data') });
      servers.push(server);
      expect((await addUser(server, 'before')).status).toBe(201);
      expect((await health(server)).body.ok).toBe(true);

      const filler = fill(mnt);
      // The WAL may still have room in blocks it holds: the first write that needs a new one fails.
      const added: string[] = ['before'];
      let refused: { status: number; body: { code?: string; message?: string } } | null = null;
      for (let i = 0; i < 2000 && !refused; i++) {
        const r = await addUser(server, `fill-${i}`);
        if (r.status === 201) added.push(`fill-${i}`);
        else refused = r;
      }
      expect(refused).toMatchObject({ status: 503, body: { code: 'STORE_UNAVAILABLE' } });
      expect(refused!.body.message).toMatch(/disk is full/);

      // What the admin sees, and what a load balancer / monitoring sees.
      expect(await refusedAdd(server, 'during')).toMatch(/^the database's disk is full \(.*\)/);
      const plain = await run(IDVCTL_BIN, ['--server', server.url, 'user', 'add', 'during'], {
        IDV_TOKEN: server.adminToken,
      });
      expect(plain.code).toBe(1);
      expect(plain.stderr).toMatch(/^idvctl: the database's disk is full \(SQLITE_FULL: /m);
      const h = await health(server);
      expect(h.status).toBe(503);
      expect(h.body).toMatchObject({ ok: false, database: 'disk full', code: 'STORE_UNAVAILABLE' });
      expect(h.body.message).toMatch(/disk is full/);
      // /healthz needs no token: the cause in words, not the driver's message (paths, hosts).
      expect(h.body.message).not.toMatch(/SQLITE|database or disk|\//);
      // Nothing half-written: exactly the users whose add was answered 201.
      expect(await userNames(server)).toEqual(added.sort());

      // Space freed: healthz's own probe write succeeds, and so does the next add.
      unlinkSync(filler);
      await waitFor(async () => (await health(server)).body.ok, 'healthz ok again', 30_000);
      expect((await idvctl(server, ['user', 'add', 'during'])).code).toBe(0);
      expect(await userNames(server)).toEqual([...added, 'during'].sort());
      expect(server.process().exitCode).toBeNull();
    });
  },
);

describe.skipIf(cluster === null)(`PostgreSQL (${POSTGRES_MISSING ?? 'real cluster'})`, () => {
  /** A database setting for new sessions, then every session of the server replaced. */
  async function setForServer(db: string, setting: string): Promise<void> {
    await cluster!.query('postgres', `ALTER DATABASE ${db} SET ${setting}`);
    await cluster!.query(
      'postgres',
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db}'`,
    );
  }

  it('made read-only: 503 STORE_UNAVAILABLE "read-only", healthz says so; writable again, it recovers', async () => {
    const url = await cluster!.createDatabase();
    const db = new URL(url).pathname.slice(1);
    const server = await startServer({ database: url });
    servers.push(server);
    expect((await addUser(server, 'before')).status).toBe(201);

    await setForServer(db, 'default_transaction_read_only = on');
    expect(await refusedAdd(server, 'during')).toMatch(/^the database is read-only \(25006: /);
    const h = await health(server);
    expect(h.status).toBe(503);
    expect(h.body).toMatchObject({ ok: false, database: 'read-only', code: 'STORE_UNAVAILABLE' });
    expect(await userNames(server)).toEqual(['before']);

    await setForServer(db, 'default_transaction_read_only = off');
    await waitFor(async () => (await health(server)).body.ok, 'healthz ok again', 30_000);
    expect((await idvctl(server, ['user', 'add', 'during'])).code).toBe(0);
    expect(await userNames(server)).toEqual(['before', 'during']);
  });

  const TRY_AGAIN = 'Try again in a minute';
  const GONE = 'This setup link no longer works';

  it('the portal: a locked table or a stopped database is "try again", not a spent link; the link and the session still work after', async () => {
    const url = await cluster!.createDatabase();
    const db = new URL(url).pathname.slice(1);
    // A statement waits at most this long for a lock (as a replica would, not forever).
    await cluster!.query('postgres', `ALTER DATABASE ${db} SET lock_timeout = '500ms'`);
    const server = await startServer({ database: url });
    servers.push(server);
    const linkFor = async (user: string): Promise<string> => {
      expect((await idvctl(server, ['user', 'add', user])).code).toBe(0);
      return ((await idvctl(server, ['user', 'enroll', user])).json as { link: string }).link;
    };

    // A session in the middle of its setup; the users table then held by a long transaction
    // (a migration, a stuck admin session): the session reads, the user's pending secret does not.
    const alice = new Client(server.url);
    expect((await alice.openLink(await linkFor('alice'))).status).toBe(303);
    const holder = new pg.Client({
      host: '127.0.0.1',
      port: cluster!.port,
      user: 'postgres',
      database: db,
    });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
      const during = await alice.get('/portal/enroll');
      const page = await during.text();
      expect(during.status).toBe(503);
      expect(page).toContain(TRY_AGAIN);
      expect(page).not.toContain(GONE);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
    // The session kept its setup: the QR page is back.
    const back = await alice.get('/portal/enroll');
    expect(back.status).toBe(200);
    expect(await back.text()).toContain('name="csrf"');

    // The database stopped: a link opened meanwhile says "try again", and works once it is back.
    const link = await linkFor('bob');
    await cluster!.stop();
    try {
      const down = await new Client(server.url).get(link);
      expect(down.status).toBe(503);
      const page = await down.text();
      expect(page).toContain(TRY_AGAIN);
      expect(page).not.toContain(GONE);
    } finally {
      await cluster!.start();
    }
    await waitFor(
      async () => (await new Client(server.url).get(link)).status === 200,
      'the link page back',
      30_000,
    );
    expect((await new Client(server.url).openLink(link)).status).toBe(303);
  });
});
