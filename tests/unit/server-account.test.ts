/** The account rules in the store (server/store/account.ts): exactly once, budget, reset, unlock. */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LoginEvent } from '../../protocol/messages.js';
import { SecretBox } from '../../server/store/crypto.js';
import { SqliteStore } from '../../server/store/sqlite.js';
import type { AccountItem } from '../../server/store/store.js';

let dir: string;
let store: SqliteStore;
const DEV = randomUUID();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idv-account-unit-'));
  store = await SqliteStore.open(join(dir, 'idv.db'), new SecretBox(randomBytes(32)));
  await store.addUser('alice', [], 1);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Stores the events (as an upload would) and applies their items; returns the items. */
async function upload(kinds: ('success' | 'failure')[], step?: number) {
  const events: LoginEvent[] = kinds.map((k) => ({
    id: randomUUID(),
    at: 5,
    user: 'alice',
    service: 'sudo',
    outcome: k === 'success' ? 'ok' : 'invalid',
  }));
  await store.addEvents(DEV, events, 5);
  const items: AccountItem[] = events.map((e, i) => ({
    eventId: e.id,
    user: 'alice',
    kind: kinds[i]!,
    ...(step !== undefined ? { step } : {}),
    maxFailures: 3,
  }));
  return { items, result: await store.applyAccount(DEV, items, 7) };
}

describe('account rules in the store', () => {
  it('counts each event once, however often it is applied', async () => {
    const { items } = await upload(['failure', 'failure']);
    const again = await store.applyAccount(DEV, items, 8);
    expect(again).toEqual({ changed: false, locked: [] });
    expect((await store.getUser('alice'))?.accountFailures).toBe(2);
  });

  it('locks at exactly the budget, with a revision devices see; an admin unlock clears it', async () => {
    const rev = await store.revision();
    const { result: two } = await upload(['failure', 'failure']);
    expect(two.locked).toEqual([]);
    expect(await store.revision()).toBe(rev);
    const { result: third } = await upload(['failure']);
    expect(third).toEqual({ changed: true, locked: [{ user: 'alice', failures: 3 }] });
    expect(await store.revision()).toBe(rev + 1);
    expect((await store.getUser('alice'))?.accountLockedAt).toBe(7);
    // A success while locked restarts the count but does not lift the lock.
    await upload(['success']);
    expect(await store.getUser('alice')).toMatchObject({ accountFailures: 0, accountLockedAt: 7 });
    await store.updateUser('alice', { kind: 'unlock', deviceId: DEV }, 9);
    expect(await store.getUser('alice')).toMatchObject({
      accountFailures: 0,
      accountLockedAt: null,
    });
  });

  it('a success resets the count and raises the replay guard only upwards', async () => {
    await upload(['failure', 'failure']);
    const { result } = await upload(['success'], 1000);
    expect(result.changed).toBe(true);
    expect(await store.getUser('alice')).toMatchObject({ accountFailures: 0, lastStep: 1000 });
    const { result: older } = await upload(['success'], 999);
    expect(older.changed).toBe(false);
    expect((await store.getUser('alice'))?.lastStep).toBe(1000);
    // An MFA reset starts a new sequence of steps.
    await store.updateUser('alice', { kind: 'reset', newGrace: false }, 10);
    expect((await store.getUser('alice'))?.lastStep).toBeNull();
  });
});
