/**
 * The events feed follows the store, not the process: events stored through another connection
 * to the same database (another replica) are published once it hears of them, every one, once,
 * in store order, also when thousands arrived between two notices. And the store's notices come
 * after the commit, with revisions and seqs never going back.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventFeed } from '../../server/feed.js';
import { SecretBox, hashToken } from '../../server/store/crypto.js';
import type { Notice } from '../../server/store/notices.js';
import { SqliteStore } from '../../server/store/sqlite.js';
import type { StoredEvent } from '../../server/store/store.js';

let dir: string;
let a: SqliteStore;
let b: SqliteStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idv-feed-'));
  const key = randomBytes(32);
  a = await SqliteStore.open(join(dir, 'idv.db'), new SecretBox(key));
  b = await SqliteStore.open(join(dir, 'idv.db'), new SecretBox(key));
});
afterEach(async () => {
  await a.close();
  await b.close();
  rmSync(dir, { recursive: true, force: true });
});

const login = (i: number) => ({
  id: randomUUID(),
  at: 1_700_000_000_000 + i,
  user: `u${i}`,
  service: 'sshd',
  outcome: 'ok' as const,
});

describe('events feed', () => {
  it('publishes every event another replica stored, once and in order, 2,500 at a time', async () => {
    await b.addEvents('dev-b', [login(0)], Date.now()); // before the feed starts: not replayed
    const feed = new EventFeed(a);
    await feed.start();
    const got: StoredEvent[] = [];
    feed.subscribe((es) => got.push(...es));
    for (let batch = 0; batch < 5; batch++)
      await b.addEvents(
        'dev-b',
        Array.from({ length: 500 }, (_, i) => login(batch * 500 + i + 1)),
        Date.now(),
      );
    // Replica A heard nothing (no notice crosses SQLite connections): a resync finds them all.
    await feed.committed();
    expect(got.map((e) => e.user)).toEqual(Array.from({ length: 2500 }, (_, i) => `u${i + 1}`));
    expect(new Set(got.map((e) => e.seq)).size).toBe(2500);
    // A notice for what was published already publishes nothing again.
    await feed.committed(got.at(-1)?.seq);
    expect(got).toHaveLength(2500);
    const more = await b.addEvents('dev-b', [login(9999)], Date.now());
    await feed.committed(more[0]?.seq);
    expect(got.at(-1)?.user).toBe('u9999');
  });

  it('notices follow the commit: revision, events, revocation, audit entry; none for a rollback', async () => {
    const heard: Notice[] = [];
    a.notices.subscribe((n) => heard.push(n));
    await a.addUser('alice', ['staff'], Date.now());
    await expect(a.addUser('alice', [], Date.now())).rejects.toThrow(/exists/);
    const [e] = await a.addEvents('dev-a', [login(1)], Date.now());
    await a.addEvents('dev-a', [], Date.now());
    expect(heard).toEqual([
      { kind: 'revision', revision: 1 },
      { kind: 'events', seq: e?.seq },
    ]);
    await a.addRegistrationToken(
      hashToken('h'.repeat(43)),
      { deviceGroup: 'g', uses: 1, expiresAt: Date.now() + 60_000 },
      Date.now(),
    );
    const d = await a.registerDevice(
      hashToken('h'.repeat(43)),
      {
        id: randomUUID(),
        name: 'x',
        publicKey: 'A'.repeat(43),
        facts: { hostname: 'h', os: 'linux', osVersion: '12', arch: 'x64' },
        agentVersion: '1',
      },
      Date.now(),
    );
    await a.revokeDevice(d.id, Date.now());
    expect(heard.at(-1)).toEqual({ kind: 'revoked', device: d.id });
    const entry = await a.audit.append({
      at: Date.now(),
      actor: 'local',
      role: 'admin',
      source: 'local',
      action: 'user.add',
      target: 'carol',
      detail: {},
      result: 'ok',
    });
    expect(heard.at(-1)).toEqual({ kind: 'audit', seq: entry.seq });
    // What b commits, a's notices do not hear (another process): the LISTEN client's job.
    const before = heard.length;
    await b.addUser('bob', [], Date.now());
    expect(heard).toHaveLength(before);
  });
});
