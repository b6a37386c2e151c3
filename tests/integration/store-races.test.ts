/**
 * The Store under concurrency, on SQLite and on a real PostgreSQL with several stores on one
 * database (as replicas open it): one-use tokens used once, parallel policy changes all applied,
 * revisions gap-free and in commit order, the events feed never skipping a row.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashToken } from '../../server/store/crypto.js';
import { PostgresDb } from '../../server/store/db-postgres.js';
import type { SqlStore } from '../../server/store/sql-store.js';
import { storeBackends, type FreshStore } from '../helpers/stores.js';

const backends = await storeBackends();
const facts = { hostname: 'h', os: 'linux', osVersion: '12', arch: 'x64' };
const T = 1_800_000_000_000;

async function replicas(fresh: FreshStore, n: number): Promise<SqlStore[]> {
  const out = [fresh.store];
  for (let i = 1; i < n; i++) out.push(await fresh.replica());
  return out;
}

/** Most transactions the database had open at once through any of these stores. */
function overlap(stores: SqlStore[]): number {
  return Math.max(...stores.map((s) => (s.db instanceof PostgresDb ? s.db.maxOpen : 0)));
}

describe.each(backends)('Store races on $name', (backend) => {
  const test = it.skipIf(backend.skip !== null);
  if (backend.skip) it.skip(`postgres: ${backend.skip}`, () => undefined);
  const pg = backend.name === 'postgres';

  test('twenty parallel registrations on a one-use token: exactly one device', async () => {
    const fresh = await backend.fresh();
    const stores = await replicas(fresh, 4);
    const token = hashToken(randomBytes(32).toString('base64url'));
    await fresh.store.addRegistrationToken(token, { deviceGroup: 'g', uses: 1, expiresAt: T }, 0);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        (stores[i % stores.length] as SqlStore).registerDevice(
          token,
          {
            id: randomUUID(),
            name: `m${i}`,
            publicKey: randomBytes(32).toString('base64url'),
            facts,
            agentVersion: '1',
          },
          1,
        ),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter(
      (r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'TOKEN_INVALID',
    );
    expect([ok.length, refused.length]).toEqual([1, 19]);
    expect(await fresh.store.listDevices()).toHaveLength(1);
    if (pg) expect(overlap(stores)).toBeGreaterThan(1); // they really were in flight together
  });

  test('a one-use enrollment link opened four times at once: exactly one gets it', async () => {
    const fresh = await backend.fresh();
    const [a, b] = (await replicas(fresh, 2)) as [SqlStore, SqlStore];
    await a.addUser('ann', [], 0);
    for (let round = 0; round < 10; round++) {
      const link = hashToken(randomBytes(32).toString('base64url'));
      await a.updateUser(
        'ann',
        {
          kind: 'pending',
          totp: { secret: 'JBSWY3DPEHPK3PXP', algorithm: 'SHA1', digits: 6, period: 30 },
          tokenHash: link,
          tokenExpiresAt: T,
        },
        1,
      );
      const got = await Promise.all([a, b, a, b].map((s) => s.consumeEnrollment(link, 2)));
      expect(got.filter((g) => g !== null)).toEqual([{ user: 'ann', expiresAt: T }]);
    }
    if (pg) expect(overlap([a, b])).toBeGreaterThan(1);
  });

  test('parallel policy changes: every one applied, revisions gap-free', async () => {
    const fresh = await backend.fresh();
    const stores = await replicas(fresh, 4);
    const groups = ['g0', 'g1', 'g2', 'g3', 'g4'];
    const patches = [
      { maxAttempts: 9 },
      { prompts: 4 },
      { lockoutSeconds: 77 },
      { window: 3 },
    ] as const;
    await Promise.all(
      groups.flatMap((g, gi) =>
        patches.map((p, pi) => (stores[(gi + pi) % stores.length] as SqlStore).setPolicy(g, p, T)),
      ),
    );
    for (const g of groups) {
      expect((await fresh.store.getPolicy(g)).policy).toMatchObject({
        maxAttempts: 9,
        prompts: 4,
        lockoutSeconds: 77,
        window: 3,
      });
    }
    expect(await fresh.store.revision()).toBe(20);
    const set = await fresh.store.changesSince(0, 100, []);
    expect(set.kind === 'changes' && set.changes.map((c) => c.revision)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    if (pg) expect(overlap(stores)).toBeGreaterThan(1);
  });

  test('many concurrent writers: a follower sees every revision, in order, never a gap', async () => {
    const fresh = await backend.fresh();
    const stores = await replicas(fresh, 4);
    const follower = pg ? await fresh.replica() : fresh.store;
    const committed = new Map<SqlStore, number[]>();
    for (const s of stores) {
      const seen: number[] = [];
      committed.set(s, seen);
      s.notices.subscribe((n) => n.kind === 'revision' && seen.push(n.revision));
    }
    const perWriter = 25;
    const total = stores.length * 3 * perWriter;
    let done = false;
    const writers = stores.flatMap((s, si) =>
      [0, 1, 2].map(async (w) => {
        for (let i = 0; i < perWriter; i++) {
          const name = `u${si}-${w}-${i}`;
          if (i % 3 === 0) await s.setPolicy(`grp${w}`, { prompts: 1 + (i % 9) }, T + i);
          else if (i % 3 === 1) await s.addUser(name, ['ops'], T + i);
          else await s.addUser(name, [], T).then(() => s.updateUser(name, { kind: 'unlock' }, T));
        }
      }),
    );
    const expected = total + stores.length * 3 * Math.floor(perWriter / 3); // add + unlock
    let last = 0;
    let polls = 0;
    let partial = 0;
    const follow = (async () => {
      while (last < expected) {
        const set = await follower.changesSince(last, 1_000_000, []);
        polls++;
        // A gap (a later revision visible before an earlier one) would read as a pruned log.
        expect(set.kind).toBe('changes');
        if (set.kind !== 'changes') return;
        expect(set.changes.map((c) => c.revision)).toEqual(
          Array.from({ length: set.revision - last }, (_, i) => last + i + 1),
        );
        if (set.revision > last && set.revision < expected && !done) partial++;
        last = set.revision;
        if (done && last === expected) break;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await Promise.all(writers);
    done = true;
    await follow;
    expect(last).toBe(expected);
    expect(partial).toBeGreaterThan(0); // it read while the writers were writing
    expect(polls).toBeGreaterThan(1);
    // Each process is told its commits after COMMIT, never going back, the last one included.
    for (const seen of committed.values()) expect(seen).toEqual([...seen].sort((x, y) => x - y));
    expect(Math.max(...[...committed.values()].flat())).toBe(expected);
    if (pg) expect(overlap(stores)).toBeGreaterThan(1);
  });

  test('events under concurrent inserts: a follower on afterSeq never skips a row', async () => {
    const fresh = await backend.fresh();
    const stores = await replicas(fresh, 4);
    const follower = pg ? await fresh.replica() : fresh.store;
    const batches = 15;
    const writers = stores.flatMap((s, si) =>
      [0, 1, 2, 3].map(async (w) => {
        const device = `dev-${si}-${w}`;
        for (let b = 0; b < batches; b++) {
          await s.addEvents(
            device,
            [0, 1, 2].map((k) => ({
              id: `${b}-${k}`,
              at: T + b,
              user: 'u',
              service: 'sshd',
              outcome: 'ok' as const,
            })),
            T,
          );
        }
      }),
    );
    const total = stores.length * 4 * batches * 3;
    const seen: string[] = [];
    let afterSeq = 0;
    let done = false;
    let partial = 0;
    const follow = (async () => {
      for (;;) {
        const finished = done;
        const rows = await follower.queryEvents({ afterSeq, limit: 100_000 });
        for (const r of rows) {
          expect(r.seq).toBeGreaterThan(afterSeq);
          afterSeq = r.seq;
          seen.push(`${r.device}/${r.id}`);
        }
        if (!finished && rows.length > 0 && seen.length < total) partial++;
        if (finished) break;
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    await Promise.all(writers);
    done = true;
    await follow;
    expect(partial).toBeGreaterThan(0);
    expect(seen.length).toBe(total); // nothing skipped...
    expect(new Set(seen).size).toBe(total); // ...nothing twice
    if (pg) expect(overlap(stores)).toBeGreaterThan(1);
  });

  it.skipIf(!pg || backend.skip !== null)(
    'a serialization failure is retried, not returned',
    async () => {
      const fresh = await backend.fresh();
      const [a, b] = (await replicas(fresh, 2)) as [SqlStore, SqlStore];
      await a.addUser('x', [], 0);
      await a.addUser('y', [], 0);
      // Write skew: each reads both rows, then writes the other's; SERIALIZABLE lets one through.
      let arrived = 0;
      let release!: () => void;
      const bothRead = new Promise<void>((r) => (release = r));
      const skew = (s: SqlStore, write: string) =>
        s.db.transaction(async (tx) => {
          await tx.all('SELECT * FROM users ORDER BY name');
          if (++arrived === 2) release();
          await bothRead;
          await tx.run('UPDATE users SET status = ? WHERE name = ?', ['suspended', write]);
        });
      await Promise.all([skew(a, 'x'), skew(b, 'y')]);
      expect((a.db as PostgresDb).retries + (b.db as PostgresDb).retries).toBeGreaterThan(0);
      expect((await a.listUsers()).map((u) => u.status)).toEqual(['suspended', 'suspended']);
    },
  );
});
