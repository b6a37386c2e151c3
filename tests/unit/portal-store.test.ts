/**
 * The portal's shared state through the store: two stores on one database stand for two
 * replicas. Guesses spread over both lock the name at the limit (every one counted once, none
 * judged past it), a session made through one is found through the other, and a TOTP step
 * claimed through one is refused through the other.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignInLimiter } from '../../server/portal/limiter.js';
import { SessionStore } from '../../server/portal/sessions.js';
import { SecretBox } from '../../server/store/crypto.js';
import { SqliteStore } from '../../server/store/sqlite.js';

let dir: string;
let a: SqliteStore;
let b: SqliteStore;
const LIMITS = { maxAttempts: 5, lockoutSeconds: 900 };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idv-portal-store-'));
  const key = randomBytes(32);
  a = await SqliteStore.open(join(dir, 'idv.db'), new SecretBox(key));
  b = await SqliteStore.open(join(dir, 'idv.db'), new SecretBox(key));
});
afterEach(async () => {
  await a.close();
  await b.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('portal state shared through the store', () => {
  it('locks a name at the limit when 40 parallel guesses are spread over two replicas', async () => {
    const now = Date.now();
    const limiters = [
      new SignInLimiter(a.portal, 'name', Date.now),
      new SignInLimiter(b.portal, 'name', Date.now),
    ];
    let judged = 0;
    const answers = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const r = await (limiters[i % 2] as SignInLimiter).reserve('alice', LIMITS, now, null);
        if (!r.ok) return 'locked';
        judged++;
        await new Promise((res) => setTimeout(res, 5)); // the judging awaits (scrypt, the store)
        return (await r.hold.fail()).locked ? 'locked-now' : 'wrong';
      }),
    );
    expect(judged).toBe(LIMITS.maxAttempts);
    // The five in flight already hold the lock between them: each failure reads locked.
    expect(answers.filter((x) => x === 'locked-now')).toHaveLength(LIMITS.maxAttempts);
    // Locked for everyone, on either replica, until the lockout runs out or an admin unlocks.
    for (const l of limiters)
      expect((await l.reserve('alice', LIMITS, now + 1, null)).ok).toBe(false);
    expect((await limiters[1]!.reserve('alice', LIMITS, now + 900_001, null)).ok).toBe(true);
    expect((await limiters[0]!.reserve('alice', LIMITS, now + 2, now + 1)).ok).toBe(true);
  });

  it('takes back an attempt that was not judged, and a success forgets the failures', async () => {
    const now = Date.now();
    const la = new SignInLimiter(a.portal, 'name', Date.now);
    const lb = new SignInLimiter(b.portal, 'name', Date.now);
    for (let i = 0; i < 4; i++) {
      const r = await la.reserve('bob', LIMITS, now, null);
      if (!r.ok) throw new Error('locked too early');
      await r.hold.fail();
    }
    const last = await lb.reserve('bob', LIMITS, now, null);
    if (!last.ok) throw new Error('locked too early');
    // In flight, the fifth attempt already counts: nobody else gets one meanwhile.
    expect((await la.reserve('bob', LIMITS, now, null)).ok).toBe(false);
    await last.hold.release();
    const again = await la.reserve('bob', LIMITS, now, null);
    if (!again.ok) throw new Error('the released attempt still counts');
    await again.hold.succeed();
    const fresh = await lb.reserve('bob', LIMITS, now, null);
    if (!fresh.ok) throw new Error('a success did not reset the count');
    expect(await fresh.hold.fail()).toEqual({ locked: false, attemptsLeft: 4 });
  });

  it('finds a session made on one replica on the other, with its sealed codes; ends it there', async () => {
    const sa = new SessionStore(a.portal, { clock: Date.now });
    const sb = new SessionStore(b.portal, { clock: Date.now });
    const { id, session } = await sa.create({
      user: 'carol',
      signedIn: true,
      freshCodes: ['abcd-efgh-ijkl'],
    });
    const seen = await sb.get(id);
    expect(seen).toMatchObject({
      user: 'carol',
      signedIn: true,
      csrf: session.csrf,
      freshCodes: ['abcd-efgh-ijkl'],
    });
    await sb.update(seen!, { freshCodes: null, notice: 'hello' });
    expect(await sa.get(id)).toMatchObject({ freshCodes: null, notice: 'hello' });
    // The database holds neither the cookie value nor the codes in the clear.
    const raw = await (a as unknown as { db: { all(sql: string): Promise<unknown[]> } }).db.all(
      'SELECT * FROM portal_sessions',
    );
    expect(JSON.stringify(raw)).not.toContain(id);
    await sb.update(seen!, { freshCodes: ['zzzz-zzzz-zzzz'] });
    expect(
      JSON.stringify(
        await (a as unknown as { db: { all(sql: string): Promise<unknown[]> } }).db.all(
          'SELECT * FROM portal_sessions',
        ),
      ),
    ).not.toContain('zzzz-zzzz-zzzz');
    await sa.destroy(id);
    expect(await sb.get(id)).toBeNull();
    expect(await sb.get('not a cookie')).toBeNull();
  });

  it('expires sessions by idle and absolute time, and caps their number', async () => {
    let now = 1_000_000;
    const sa = new SessionStore(a.portal, {
      clock: () => now,
      idleSeconds: 10,
      absoluteSeconds: 30,
      maxSessions: 3,
    });
    const signed = await sa.create({ user: 'dave', signedIn: true });
    now += 9_000;
    expect(await sa.get(signed.id)).not.toBeNull();
    now += 9_000;
    expect(await sa.get(signed.id)).not.toBeNull();
    now += 11_000;
    expect(await sa.get(signed.id)).toBeNull(); // idle
    const keep = await sa.create({ user: 'erin', signedIn: true });
    const anon = await Promise.all([sa.create({}), sa.create({})]);
    await sa.create({}); // full: the oldest anonymous one makes room, not erin's
    expect(await sa.get(keep.id)).not.toBeNull();
    expect((await sa.get(anon[0]!.id)) === null || (await sa.get(anon[1]!.id)) === null).toBe(true);
    for (let t = 0; t < 4; t++) {
      now += 9_000;
      await sa.get(keep.id);
    }
    expect(await sa.get(keep.id)).toBeNull(); // absolute
  });

  it('accepts a TOTP step once across replicas, and never an older one', async () => {
    const claims = await Promise.all([
      a.portal.claimTotpStep('frank', 100),
      b.portal.claimTotpStep('frank', 100),
      a.portal.claimTotpStep('frank', 100),
    ]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await b.portal.lastTotpStep('frank')).toBe(100);
    expect(await b.portal.claimTotpStep('frank', 99)).toBe(false);
    expect(await b.portal.claimTotpStep('frank', 101)).toBe(true);
    expect(await a.portal.lastTotpStep('nobody')).toBeNull();
  });
});
