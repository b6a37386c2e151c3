/** The SQLite store on its own: atomic changes, the change log, sealed secrets. */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretBox, hashToken } from '../../server/store/crypto.js';
import { SqliteStore } from '../../server/store/sqlite.js';

let dir: string;
let store: SqliteStore;
const facts = { hostname: 'h', os: 'linux', osVersion: '12', arch: 'x64' };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idv-store-unit-'));
  store = await SqliteStore.open(join(dir, 'idv.db'), new SecretBox(randomBytes(32)), {
    changeLogRetention: 100,
  });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteStore', () => {
  it('keeps a registration token use when the registration fails', async () => {
    await store.addRegistrationToken(
      hashToken('t'.repeat(43)),
      { deviceGroup: 'g', uses: 1, expiresAt: Date.now() + 60_000 },
      Date.now(),
    );
    const dev = {
      id: randomUUID(),
      name: 'a',
      publicKey: 'A'.repeat(43),
      facts,
      agentVersion: '1',
    };
    await store.registerDevice(hashToken('x'.repeat(43)), dev, Date.now()).catch(() => undefined);
    await store.addRegistrationToken(
      hashToken('u'.repeat(43)),
      { deviceGroup: 'g', uses: 2, expiresAt: Date.now() + 60_000 },
      Date.now(),
    );
    await store.registerDevice(hashToken('u'.repeat(43)), dev, Date.now());
    // Same key again: refused, and the token's second use is still there.
    await expect(
      store.registerDevice(hashToken('u'.repeat(43)), { ...dev, id: randomUUID() }, Date.now()),
    ).rejects.toThrow(/already registered/);
    await store.registerDevice(
      hashToken('u'.repeat(43)),
      { ...dev, id: randomUUID(), publicKey: 'B'.repeat(43) },
      Date.now(),
    );
    await expect(
      store.registerDevice(
        hashToken('u'.repeat(43)),
        { ...dev, id: randomUUID(), publicKey: 'C'.repeat(43) },
        Date.now(),
      ),
    ).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await expect(
      store.registerDevice(
        hashToken('t'.repeat(43)),
        { ...dev, id: randomUUID(), publicKey: 'D'.repeat(43) },
        Date.now() + 120_000,
      ),
    ).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
  });

  it('logs one change per revision and says tooFar beyond the log or the delta limit', async () => {
    for (let i = 0; i < 250; i++) await store.addUser(`u${i}`, ['g'], i);
    expect(await store.revision()).toBe(250);
    const recent = await store.changesSince(245, 1000, ['default']);
    expect(recent.kind === 'changes' && recent.changes.map((c) => c.subject)).toEqual([
      'u245',
      'u246',
      'u247',
      'u248',
      'u249',
    ]);
    expect((await store.changesSince(1, 1000, [])).kind).toBe('tooFar'); // pruned
    expect((await store.changesSince(200, 10, [])).kind).toBe('tooFar'); // too many
    expect((await store.changesSince(251, 1000, [])).kind).toBe('tooFar'); // from the future
    const none = await store.changesSince(250, 1000, ['default']);
    expect(none.kind === 'changes' && none.changes).toEqual([]);
  });

  it('rolls back a refused change entirely', async () => {
    await store.addUser('a', [], 1);
    await expect(store.addUser('a', ['x'], 2)).rejects.toMatchObject({ code: 'USER_EXISTS' });
    await expect(
      store.updateUser('a', { kind: 'activate', expectedSecret: 'X' }, 3),
    ).rejects.toMatchObject({ code: 'ENROLLMENT_PENDING' });
    expect(await store.revision()).toBe(1);
    expect((await store.getUser('a'))?.groups).toEqual([]);
  });

  it('seals TOTP secrets: readable through the store, never in the file', async () => {
    await store.addUser('a', [], 1);
    const totp = {
      secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
      algorithm: 'SHA1' as const,
      digits: 6 as const,
      period: 30,
    };
    await store.updateUser(
      'a',
      { kind: 'pending', totp, tokenHash: hashToken('e'.repeat(43)), tokenExpiresAt: 10_000 },
      2,
    );
    await store.updateUser('a', { kind: 'activate', expectedSecret: totp.secret }, 3);
    expect((await store.getUser('a'))?.totp).toEqual(totp);
    await store.close();
    for (const f of ['idv.db', 'idv.db-wal']) {
      const bytes = (() => {
        try {
          return readFileSync(join(dir, f));
        } catch {
          return Buffer.alloc(0);
        }
      })();
      expect(bytes.includes(Buffer.from(totp.secret))).toBe(false);
    }
    store = await SqliteStore.open(join(dir, 'idv.db'), new SecretBox(randomBytes(32)));
    await expect(store.getUser('a')).rejects.toThrow(/wrong master key/);
  });
});

describe('migration 4 (events unique per device and id)', () => {
  it('keeps the events of a version-3 database and their order, and stores new ones after them', async () => {
    const { Database } = await import('../../protocol/io/sqlite.js');
    const { MIGRATIONS } = await import('../../server/store/migrations.js');
    const path = join(dir, 'v3.db');
    const old = await Database.open(path, { synchronous: 'FULL' });
    await old.migrate(MIGRATIONS.slice(0, 3));
    const dev = randomUUID();
    const ids = [randomUUID(), randomUUID()];
    for (const [i, id] of ids.entries()) {
      await old.run(
        `INSERT INTO events (id, device_id, at, user, service, outcome, received_at, recovery_code_id)
           VALUES (?, ?, ?, 'u', 'sudo', 'ok', ?, NULL)`,
        [id, dev, 1000 + i, 2000 + i],
      );
    }
    await old.close();
    const s = await SqliteStore.open(path, new SecretBox(randomBytes(32)));
    try {
      const other = randomUUID();
      const e = {
        id: ids[0] as string,
        at: 5000,
        user: 'u',
        service: 'sshd',
        outcome: 'ok' as const,
      };
      // The same id from another device is a different event; from the same device, a resend.
      expect(await s.addEvents(other, [e], 6000)).toHaveLength(1);
      expect(await s.addEvents(dev, [e], 6000)).toHaveLength(0);
      const all = await s.queryEvents({ limit: 10 });
      expect(all.map((x) => [x.device, x.id, x.at])).toEqual([
        [dev, ids[0], 1000],
        [dev, ids[1], 1001],
        [other, ids[0], 5000],
      ]);
      expect(all[2]?.seq).toBeGreaterThan(all[1]?.seq as number);
    } finally {
      await s.close();
    }
  });
});
