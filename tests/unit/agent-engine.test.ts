import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../protocol/policy.js';
import { generateCode, newTotpParams } from '../../protocol/totp.js';
import type { Snapshot, UserRecord } from '../../protocol/messages.js';
import { Cache, sqlLiteral } from '../../agent/store/cache.js';
import { CacheCipher, loadOrCreateCacheKey } from '../../agent/store/crypto.js';
import { LoginEngine } from '../../agent/policy/engine.js';
import { boundedRecoveryVerifier } from '../../agent/policy/recovery.js';
import { Database } from '../../protocol/io/sqlite.js';
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  recoveryCodeId,
} from '../../protocol/recovery.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 10);
const totp = newTotpParams();
const user = (name: string, over: Partial<UserRecord> = {}): UserRecord => ({
  name,
  groups: [],
  status: 'active',
  totp,
  graceStartedAt: T0,
  recoveryCodes: ['$scrypt$hash-of-a-recovery-code'],
  unlockedAt: null,
  ...over,
});
const snapshot = (users: UserRecord[], revision = 1, policy = {}): Snapshot => ({
  type: 'snapshot',
  revision,
  serverTime: T0,
  deviceGroup: 'default',
  // The plain lockout by default here; self-unlock has its own tests (agent-badday.test.ts).
  policy: { ...DEFAULT_POLICY, selfUnlock: false, ...policy },
  users,
});

let dir: string;
let cache: Cache;
let now = T0;
const log = pino({ level: 'silent' });

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idv-agent-engine-'));
  now = T0;
  cache = await Cache.open(
    join(dir, 'cache.db'),
    new CacheCipher(loadOrCreateCacheKey(join(dir, 'cache.key'))),
  );
});
afterEach(async () => {
  await cache.close();
  rmSync(dir, { recursive: true, force: true });
});

const engine = () => new LoginEngine({ cache, now: () => now, connected: () => true, log });
const ctx = { user: 'alice', service: 'sudo' };

describe('cache', () => {
  it('keeps the key 0600 and TOTP secrets and recovery hashes encrypted on disk', async () => {
    expect(statSync(join(dir, 'cache.key')).mode & 0o777).toBe(0o600);
    await cache.applySnapshot(snapshot([user('alice')]), now);
    await cache.close();
    const raw = Buffer.concat(
      ['cache.db', 'cache.db-wal'].map((f) => {
        try {
          return readFileSync(join(dir, f));
        } catch {
          return Buffer.alloc(0);
        }
      }),
    ).toString('latin1');
    expect(raw).not.toContain(totp.secret);
    expect(raw).not.toContain('hash-of-a-recovery-code');
    cache = await Cache.open(
      join(dir, 'cache.db'),
      new CacheCipher(loadOrCreateCacheKey(join(dir, 'cache.key'))),
    );
    expect((await cache.getUser('alice'))?.totp).toEqual(totp);
  });
  it('refuses to open secrets under another key', async () => {
    await cache.applySnapshot(snapshot([user('alice')]), now);
    await cache.close();
    cache = await Cache.open(join(dir, 'cache.db'), new CacheCipher(randomBytes(32)));
    await expect(cache.getUser('alice')).rejects.toThrow(/decrypted/);
  });
  it('applies a delta only on its fromRevision, and a snapshot never resets counters', async () => {
    await cache.applySnapshot(snapshot([user('alice'), user('bob')], 4), now);
    await expect(
      cache.applyDelta(
        {
          type: 'delta',
          fromRevision: 3,
          revision: 5,
          serverTime: now,
          upsert: [],
          remove: ['bob'],
        },
        now,
      ),
    ).rejects.toThrow(/does not apply/);
    expect(await cache.userNames()).toEqual(['alice', 'bob']);
    await cache.applyDelta(
      {
        type: 'delta',
        fromRevision: 4,
        revision: 5,
        serverTime: now,
        upsert: [user('carol')],
        remove: ['bob'],
      },
      now,
    );
    expect(await cache.userNames()).toEqual(['alice', 'carol']);
    expect(cache.state.revision).toBe(5);
    await engine().verify(ctx, '000000');
    await cache.applySnapshot(snapshot([user('alice')], 9), now);
    expect((await cache.getCounters('alice')).failures).toBe(1);
  });
  it('a pushed unlockedAt clears a lockout that started before it', async () => {
    await cache.applySnapshot(snapshot([user('alice')], 1, { maxAttempts: 1 }), now);
    expect((await engine().verify(ctx, '000000')).type).toBe('locked');
    expect(await engine().lockedUsers()).toEqual(['alice']);
    now += 1000;
    await cache.applyDelta(
      {
        type: 'delta',
        fromRevision: 1,
        revision: 2,
        serverTime: now,
        upsert: [user('alice', { unlockedAt: now })],
        remove: [],
      },
      now,
    );
    expect(await engine().lockedUsers()).toEqual([]);
    expect((await engine().begin(ctx)).type).toBe('prompt');
  });
  it('a server clock ahead of ours: an admin unlock does not disable the lockout afterwards', async () => {
    // The server's clock runs 1 h ahead; the admin unlocks alice (unlockedAt = server now).
    const ahead = now + 3600_000;
    await cache.applySnapshot(
      {
        ...snapshot([user('alice', { unlockedAt: ahead })], 1, { maxAttempts: 5 }),
        serverTime: ahead,
      },
      now,
    );
    now += 1000;
    const e = engine();
    const replies = [];
    for (let i = 0; i < 8; i++) replies.push((await e.verify(ctx, '000000')).type);
    // Without converting the server's time to ours, every failure before `ahead` was "cleared".
    expect(replies.slice(0, 5)).toEqual(['invalid', 'invalid', 'invalid', 'invalid', 'locked']);
    expect(replies.slice(5)).toEqual(['locked', 'locked', 'locked']);
  });
  it('a server clock behind ours: an admin unlock still clears a lockout that started before it', async () => {
    await cache.applySnapshot(snapshot([user('alice')], 1, { maxAttempts: 1 }), now);
    expect((await engine().verify(ctx, '000000')).type).toBe('locked');
    now += 60_000;
    const behind = now - 3600_000;
    await cache.applyDelta(
      {
        type: 'delta',
        fromRevision: 1,
        revision: 2,
        serverTime: behind,
        upsert: [user('alice', { unlockedAt: behind })],
        remove: [],
      },
      now,
    );
    expect(await engine().lockedUsers()).toEqual([]);
    expect((await engine().begin(ctx)).type).toBe('prompt');
  });
});

describe('login engine', () => {
  it('20 parallel wrong codes with maxAttempts 5 count exactly 5, then report locked', async () => {
    await cache.applySnapshot(snapshot([user('alice')], 1, { maxAttempts: 5 }), now);
    const e = engine();
    const replies = await Promise.all(Array.from({ length: 20 }, () => e.verify(ctx, '000000')));
    const types = replies.map((r) => r.type);
    expect(types.filter((t) => t === 'invalid')).toHaveLength(4);
    expect(types.filter((t) => t === 'locked')).toHaveLength(16);
    expect((await cache.getCounters('alice')).failures).toBe(5);
    const left = replies.flatMap((r) => (r.type === 'invalid' ? [r.attemptsLeft] : []));
    expect(left.sort()).toEqual([1, 2, 3, 4]);
  });
  it('two parallel logins with the same valid code: exactly one ok', async () => {
    await cache.applySnapshot(snapshot([user('alice')]), now);
    const e = engine();
    const code = generateCode(totp, now);
    const replies = await Promise.all([e.verify(ctx, code), e.verify(ctx, code)]);
    expect(replies.map((r) => r.type).sort()).toEqual(['invalid', 'ok']);
  });
  it('every decision lands in the outbox, uploaded by id', async () => {
    await cache.applySnapshot(snapshot([user('alice')]), now);
    const e = engine();
    await e.begin(ctx);
    await e.verify(ctx, generateCode(totp, now));
    await e.begin({ user: 'nobody', service: 'sudo' });
    const events = await cache.outboxBatch(10);
    expect(events.map((x) => x.outcome)).toEqual(['prompt', 'ok', 'skip']);
    await cache.deleteEvents([events[0]!.id]);
    expect(await cache.outboxCount()).toBe(2);
  });
  it('stores events with quotes and SQL-looking text verbatim (the literal rendering is exact)', async () => {
    await cache.applySnapshot(snapshot([user('alice')]), now);
    const rhost = `o'brien'); DROP TABLE outbox; --\u00e9"`;
    await engine().begin({ ...ctx, rhost, tty: "''" });
    const [ev] = await cache.outboxBatch(1);
    expect(ev).toMatchObject({ rhost, tty: "''" });
    expect(() => sqlLiteral(1.5)).toThrow();
    expect(() => sqlLiteral('a\u0000b')).toThrow();
    expect(() => sqlLiteral({})).toThrow();
  });
  it('property: any hostile text (PAM_RHOST / PAM_TTY) round-trips exactly through the batch literal', async () => {
    // If sqlLiteral ever let a quote through, the batch would fail or store something else.
    await cache.applySnapshot(snapshot([user('alice')]), now);
    const e = engine();
    const hostile = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({
        unit: fc.constantFrom("'", '"', ';', '\\', '-', '\n', '\u2019', ')', 'x'),
        maxLength: 40,
      }),
    );
    await fc.assert(
      fc.asyncProperty(hostile, hostile, async (rhost, tty) => {
        fc.pre(!rhost.includes('\u0000') && !tty.includes('\u0000'));
        await e.begin({ ...ctx, rhost, tty });
        const events = await cache.outboxBatch(1000);
        const last = events[events.length - 1]!;
        expect(last.rhost).toBe(rhost);
        expect(last.tty).toBe(tty);
        await cache.deleteEvents(events.map((x) => x.id));
      }),
      { numRuns: 150 },
    );
    const direct = fc
      .string({ unit: 'binary', maxLength: 60 })
      .filter((v) => !v.includes('\u0000'));
    await fc.assert(
      fc.property(direct, (v) => {
        const lit = sqlLiteral(v);
        // One literal: the quotes inside come only in doubled pairs.
        expect(lit.slice(1, -1).replace(/''/g, '')).not.toContain("'");
      }),
    );
  });
  it('a login batch that fails rolls back in its own queue slot: logins queued meanwhile are answered and durable', async () => {
    const names = ['xfail', 'u1', 'u2', 'u3', 'u4'];
    await cache.applySnapshot(snapshot(names.map((n) => user(n))), now);
    // An injected failure inside the batch (after BEGIN and the counters row): the outbox insert
    // of xfail's event aborts, as a full disk or an I/O error would.
    const side = await Database.open(join(dir, 'cache.db'));
    await side.exec(`CREATE TRIGGER inject_failure BEFORE INSERT ON outbox
      WHEN json_extract(NEW.body, '$.user') = 'xfail'
      BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    await side.close();
    const e = engine();
    const code = generateCode(totp, now);
    // All five queued at once, the failing one first.
    const results = await Promise.allSettled(
      names.map((n) => e.verify({ user: n, service: 'sudo' }, code)),
    );
    expect(results[0]?.status).toBe('rejected');
    for (const r of results.slice(1))
      expect(r).toEqual({ status: 'fulfilled', value: { type: 'ok' } });
    // Work queued after the failure is not swallowed by a still-open transaction either.
    await cache.setMeta('probe', 1);
    await cache.close();
    cache = await Cache.open(
      join(dir, 'cache.db'),
      new CacheCipher(loadOrCreateCacheKey(join(dir, 'cache.key'))),
    );
    const events = await cache.outboxBatch(100);
    expect(events.map((ev) => ev.user).sort()).toEqual(['u1', 'u2', 'u3', 'u4']);
    for (const n of names.slice(1)) expect((await cache.getCounters(n)).lastStep).not.toBeNull();
    expect((await cache.getCounters('xfail')).lastStep).toBeNull();
    expect(await cache.getMeta('probe')).toBe(1);
  });

  it('local unlock clears the lockout and keeps the replay guard', async () => {
    await cache.applySnapshot(
      snapshot([user('alice')], 1, { maxAttempts: 2, lockoutSeconds: 0 }),
      now,
    );
    const e = engine();
    const code = generateCode(totp, now);
    expect((await e.verify(ctx, code)).type).toBe('ok');
    await e.verify(ctx, '000000');
    expect((await e.verify(ctx, '000000')).type).toBe('locked');
    now += 3600_000;
    expect((await e.begin(ctx)).type).toBe('deny');
    expect(await e.unlock('alice')).toEqual({ known: true, wasLocked: true, failures: 2 });
    // A name with neither a record nor counters: nothing changes, nothing is queued.
    const queued = await cache.outboxCount();
    expect(await e.unlock('nobody')).toEqual({ known: false, wasLocked: false, failures: 0 });
    expect(await cache.outboxCount()).toBe(queued);
    expect((await e.begin(ctx)).type).toBe('prompt');
    now -= 3600_000;
    expect((await e.verify(ctx, code)).type).toBe('invalid');
  });
});

describe('recovery codes at login', () => {
  // Real scrypt hashes at the lowest cost the verifier accepts (2^10), to keep the test quick.
  const CHEAP = { ln: 10, r: 8, p: 1 };
  let codes: string[];
  let hashes: string[];
  beforeAll(async () => {
    codes = generateRecoveryCodes(3);
    hashes = await Promise.all(codes.map((c) => hashRecoveryCode(c, CHEAP)));
  });
  const withCodes = (over: Partial<UserRecord> = {}) =>
    user('alice', { recoveryCodes: hashes, ...over });
  /** An engine whose verifier counts how often the slow check ran. */
  const counting = () => {
    const real = boundedRecoveryVerifier();
    const calls = { n: 0 };
    const e = new LoginEngine({
      cache,
      now: () => now,
      connected: () => true,
      log,
      recovery: (h, c) => {
        calls.n++;
        return real(h, c);
      },
    });
    return { e, calls };
  };
  const delta = (from: number, upsert: UserRecord[]) =>
    cache.applyDelta(
      {
        type: 'delta',
        fromRevision: from,
        revision: from + 1,
        serverTime: now,
        upsert,
        remove: [],
      },
      now,
    );

  it('a matching code logs in once, says how many are left, and is reported by its id', async () => {
    await cache.applySnapshot(snapshot([withCodes()]), now);
    const e = engine();
    await e.verify(ctx, '000000');
    const ok = await e.verify(ctx, codes[1]!);
    expect(ok).toEqual({
      type: 'ok',
      message:
        'Recovery code accepted; 2 recovery codes left. If your phone is lost, set up a new one in the portal',
    });
    expect((await cache.getCounters('alice')).failures).toBe(0);
    const events = await cache.outboxBatch(10);
    expect(events.at(-1)).toMatchObject({
      outcome: 'ok',
      reason: 'recovery',
      recoveryCodeId: recoveryCodeId(hashes[1]!),
    });
    expect(JSON.stringify(events)).not.toContain(codes[1]!);
    // The same code again is a wrong code (counted); the others still work.
    expect(await e.verify(ctx, codes[1]!)).toEqual({
      type: 'invalid',
      attemptsLeft: 4,
      message: 'Wrong code, 4 attempts left',
    });
    expect((await cache.outboxBatch(10)).at(-1)).toMatchObject({
      outcome: 'invalid',
      reason: 'mismatch',
    });
    expect((await e.verify(ctx, codes[0]!)).type).toBe('ok');
  });

  it('the use is durable: after a restart of the cache the code is still refused', async () => {
    await cache.applySnapshot(snapshot([withCodes()]), now);
    expect((await engine().verify(ctx, codes[2]!)).type).toBe('ok');
    await cache.close();
    cache = await Cache.open(
      join(dir, 'cache.db'),
      new CacheCipher(loadOrCreateCacheKey(join(dir, 'cache.key'))),
    );
    expect((await cache.getUser('alice'))?.recoveryCodes).toHaveLength(2);
    expect((await engine().verify(ctx, codes[2]!)).type).toBe('invalid');
  });

  it('two parallel logins with the same recovery code: exactly one ok', async () => {
    await cache.applySnapshot(snapshot([withCodes()]), now);
    const e = engine();
    const replies = await Promise.all([e.verify(ctx, codes[0]!), e.verify(ctx, codes[0]!)]);
    expect(replies.map((r) => r.type).sort()).toEqual(['invalid', 'ok']);
  });

  it('a code not among the hashes counts as a failure and can lock the user out', async () => {
    await cache.applySnapshot(snapshot([withCodes()], 1, { maxAttempts: 2 }), now);
    const e = engine();
    expect((await e.verify(ctx, 'aaaa-bbbb-cccc')).type).toBe('invalid');
    expect((await e.verify(ctx, 'aaaa-bbbb-cccc')).type).toBe('locked');
    expect((await cache.getCounters('alice')).failures).toBe(2);
  });

  it('a locked-out user is refused even with a valid code, without the slow check', async () => {
    await cache.applySnapshot(snapshot([withCodes()], 1, { maxAttempts: 1 }), now);
    const { e, calls } = counting();
    expect((await e.verify(ctx, '000000')).type).toBe('locked');
    expect((await e.verify(ctx, codes[0]!)).type).toBe('locked');
    expect(calls.n).toBe(0);
    expect((await cache.getUser('alice'))?.recoveryCodes).toHaveLength(3);
  });

  it('an unenrolled or suspended user cannot log in with a recovery code', async () => {
    await cache.applySnapshot(
      snapshot([
        withCodes({ totp: null }),
        user('bob', { recoveryCodes: hashes, status: 'suspended' }),
      ]),
      now,
    );
    const { e, calls } = counting();
    // alice is within her enrollment grace: no code is asked for, and none is checked.
    expect((await e.verify(ctx, codes[0]!)).type).toBe('skip');
    expect((await e.verify({ user: 'bob', service: 'sudo' }, codes[0]!)).type).toBe('deny');
    expect(calls.n).toBe(0);
    expect((await cache.outboxBatch(10)).some((x) => x.recoveryCodeId !== undefined)).toBe(false);
  });

  it('a used code stays refused while the server still lists it, and is forgotten once it does not', async () => {
    await cache.applySnapshot(snapshot([withCodes()], 1), now);
    const e = engine();
    expect((await e.verify(ctx, codes[0]!)).type).toBe('ok');
    // The server has not received the event yet (offline): it still lists the code.
    await cache.applySnapshot(snapshot([withCodes()], 2), now);
    await delta(2, [withCodes()]);
    expect((await cache.getUser('alice'))?.recoveryCodes).toEqual(hashes.slice(1));
    expect((await e.verify(ctx, codes[0]!)).type).toBe('invalid');
    const usedRows = async () => {
      await cache.close();
      const db = await Database.open(join(dir, 'cache.db'));
      const rows = await db.all<{ code_id: string }>('SELECT code_id FROM used_recovery');
      await db.close();
      cache = await Cache.open(
        join(dir, 'cache.db'),
        new CacheCipher(loadOrCreateCacheKey(join(dir, 'cache.key'))),
      );
      return rows.map((r) => r.code_id);
    };
    expect(await usedRows()).toEqual([recoveryCodeId(hashes[0]!)]);
    // The server got the event and no longer lists it: the row is dropped, the rest unchanged.
    await delta(3, [withCodes({ recoveryCodes: hashes.slice(1) })]);
    expect(await usedRows()).toEqual([]);
    expect((await cache.getUser('alice'))?.recoveryCodes).toEqual(hashes.slice(1));
    expect((await engine().verify(ctx, codes[1]!)).type).toBe('ok');
  });

  it('regenerated codes pushed during a login: the old code is no longer accepted', async () => {
    await cache.applySnapshot(snapshot([withCodes()], 1), now);
    const fresh = await hashRecoveryCode(generateRecoveryCodes(1)[0]!, CHEAP);
    const real = boundedRecoveryVerifier();
    const e = new LoginEngine({
      cache,
      now: () => now,
      connected: () => true,
      log,
      // The admin regenerates the codes while the hashes are being checked.
      recovery: async (h, c) => {
        const r = await real(h, c);
        await delta(1, [withCodes({ recoveryCodes: [fresh] })]);
        return r;
      },
    });
    expect((await e.verify(ctx, codes[0]!)).type).toBe('invalid');
  });
});

describe('replay guard and re-enrollment', () => {
  it('a new secret (reset + re-enroll) resets the guard: the new app works in the same step', async () => {
    await cache.applySnapshot(snapshot([user('alice')], 1), now);
    const e = engine();
    expect((await e.verify(ctx, generateCode(totp, now))).type).toBe('ok');
    // Reset and re-enrollment within the same 30-s step.
    await cache.applyDelta(
      {
        type: 'delta',
        fromRevision: 1,
        revision: 2,
        serverTime: now,
        upsert: [user('alice', { totp: null })],
        remove: [],
      },
      now,
    );
    const fresh = newTotpParams();
    await cache.applyDelta(
      {
        type: 'delta',
        fromRevision: 2,
        revision: 3,
        serverTime: now,
        upsert: [user('alice', { totp: fresh })],
        remove: [],
      },
      now,
    );
    expect((await cache.getCounters('alice')).lastStep).toBeNull();
    expect((await e.verify(ctx, generateCode(fresh, now))).type).toBe('ok');
    // And the guard protects the new secret from then on.
    expect((await e.verify(ctx, generateCode(fresh, now))).type).toBe('invalid');
  });
  it('a new secret arriving straight in a snapshot resets it too', async () => {
    await cache.applySnapshot(snapshot([user('alice')], 1), now);
    expect((await engine().verify(ctx, generateCode(totp, now))).type).toBe('ok');
    const fresh = newTotpParams();
    await cache.applySnapshot(snapshot([user('alice', { totp: fresh })], 5), now);
    expect((await engine().verify(ctx, generateCode(fresh, now))).type).toBe('ok');
  });
  it('the same secret sent again (any other change, a snapshot) keeps the guard', async () => {
    await cache.applySnapshot(snapshot([user('alice')], 1), now);
    const code = generateCode(totp, now);
    expect((await engine().verify(ctx, code)).type).toBe('ok');
    await cache.applyDelta(
      {
        type: 'delta',
        fromRevision: 1,
        revision: 2,
        serverTime: now,
        upsert: [user('alice', { groups: ['ops'] })],
        remove: [],
      },
      now,
    );
    await cache.applySnapshot(snapshot([user('alice', { totp: { ...totp } })], 3), now);
    expect(await engine().verify(ctx, code)).toMatchObject({
      type: 'invalid',
      message: expect.stringContaining('already used'),
    });
  });
});
