/** What only the SQLite backend has: a file (no secret in its bytes) and its migration history. */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Database } from '../../protocol/io/sqlite.js';
import { SecretBox, hashToken } from '../../server/store/crypto.js';
import { migrationSql } from '../../server/store/db.js';
import { MIGRATIONS } from '../../server/store/migrations.js';
import { openStore } from '../../server/store/open.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'idv-store-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite store file', () => {
  it('never holds a TOTP secret in its bytes', async () => {
    const store = await openStore({ sqlite: join(dir, 'idv.db') }, new SecretBox(randomBytes(32)));
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
      let bytes = Buffer.alloc(0);
      try {
        bytes = readFileSync(join(dir, f));
      } catch {
        // no WAL left after close
      }
      expect(bytes.includes(Buffer.from(totp.secret))).toBe(false);
    }
    const other = await openStore({ sqlite: join(dir, 'idv.db') }, new SecretBox(randomBytes(32)));
    await expect(other.getUser('a')).rejects.toThrow(/wrong master key/);
    await other.close();
  });
});

describe('migration 4 (events unique per device and id)', () => {
  it('keeps the events of a version-3 database and their order, and stores new ones after them', async () => {
    const path = join(dir, 'v3.db');
    const old = await Database.open(path, { synchronous: 'FULL' });
    await old.migrate(MIGRATIONS.slice(0, 3).map((m) => migrationSql(m, 'sqlite')));
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
    const s = await openStore({ sqlite: path }, new SecretBox(randomBytes(32)));
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
