/**
 * The bad-day rules of the login engine over a real cache: trusted networks, self-unlock with two
 * consecutive codes, remembering a recent success; and the CIDR parser behind trustedNetworks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { insideAny, parseCidr } from '../../protocol/cidr.js';
import type { LoginEvent, Snapshot, UserRecord } from '../../protocol/messages.js';
import { DEFAULT_POLICY, policyPatchSchema, type Policy } from '../../protocol/policy.js';
import { generateCode, newTotpParams, timeStep } from '../../protocol/totp.js';
import { LoginEngine, type LoginContext } from '../../agent/policy/engine.js';
import { Cache } from '../../agent/store/cache.js';
import { CacheCipher, loadOrCreateCacheKey } from '../../agent/store/crypto.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 10);
const totp = newTotpParams();
const user = (over: Partial<UserRecord> = {}): UserRecord => ({
  name: 'alice',
  groups: [],
  status: 'active',
  totp,
  graceStartedAt: T0,
  recoveryCodes: [],
  unlockedAt: null,
  ...over,
});
let revision = 0;
const snapshot = (policy: Partial<Policy> = {}, over: Partial<UserRecord> = {}): Snapshot => ({
  type: 'snapshot',
  revision: ++revision,
  serverTime: now,
  deviceGroup: 'default',
  policy: { ...DEFAULT_POLICY, ...policy },
  users: [user(over)],
});

let dir: string;
let cache: Cache;
let now = T0;
const log = pino({ level: 'silent' });
const engine = () => new LoginEngine({ cache, now: () => now, connected: () => true, log });
/** The code of the step `k` steps from now (window 1 accepts -1..+1). */
const code = (k = 0) => generateCode(totp, now + k * 30_000);
const wrong = () => {
  const valid = new Set([-3, -2, -1, 0, 1, 2, 3].map(code));
  for (let n = 1; ; n++) {
    const c = String(n * 104_729)
      .padStart(6, '0')
      .slice(-6);
    if (!valid.has(c)) return c;
  }
};
async function events(): Promise<LoginEvent[]> {
  return cache.outboxBatch(500);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idv-badday-'));
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

describe('trustedNetworks', () => {
  const ssh = (rhost: string | undefined, tty = 'ssh'): LoginContext => ({
    user: 'alice',
    service: 'sshd',
    rhost,
    tty,
  });
  it('skips remote logins from inside (IPv4, IPv6, IPv4-mapped), never a console or a host name', async () => {
    await cache.applySnapshot(snapshot({ trustedNetworks: ['10.1.0.0/16', '2001:db8::/32'] }), now);
    const e = engine();
    expect(await e.begin(ssh('10.1.2.3'))).toEqual({ type: 'skip' });
    expect(await e.begin(ssh('2001:db8:0:1::5'))).toEqual({ type: 'skip' });
    expect(await e.begin(ssh('::ffff:10.1.9.9'))).toEqual({ type: 'skip' });
    expect((await e.begin(ssh('10.2.0.1'))).type).toBe('prompt');
    expect((await e.begin(ssh('2001:db9::1'))).type).toBe('prompt');
    expect((await e.begin(ssh('trusted.example.com'))).type).toBe('prompt');
    expect((await e.begin(ssh(undefined))).type).toBe('prompt');
    // A console login never matches, even with an rhost inside.
    for (const tty of ['tty1', '/dev/tty2', '/dev/console', ':0', 'ttyS0'])
      expect((await e.begin(ssh('10.1.2.3', tty))).type).toBe('prompt');
    const skipped = (await events()).filter((x) => x.outcome === 'skip');
    expect(skipped.map((x) => [x.reason, x.rhost])).toEqual([
      ['trusted-network', '10.1.2.3'],
      ['trusted-network', '2001:db8:0:1::5'],
      ['trusted-network', '::ffff:10.1.9.9'],
    ]);
  });
  it('refuses bad networks with the reason', () => {
    const refuse = (n: string) => {
      const r = policyPatchSchema.safeParse({ trustedNetworks: [n] });
      expect(r.success).toBe(false);
      return r.error?.issues[0]?.message ?? '';
    };
    expect(refuse('10.0.0.0')).toMatch(/is not a network \(address\/prefix/);
    expect(refuse('10.0.0.0/33')).toMatch(/longer than an IPv4 address/);
    expect(refuse('10.0.0.1/8')).toMatch(/did you mean 10\.0\.0\.0\/8/);
    expect(refuse('2001:db8::1/32')).toMatch(/did you mean 2001:db8::\/32/);
    expect(refuse('host.example/24')).toMatch(/not an IP address/);
    expect(refuse('300.1.1.1/32')).toMatch(/not an IP address/);
    expect(typeof parseCidr('0.0.0.0/0')).toBe('object');
    expect(typeof parseCidr('::/0')).toBe('object');
    expect(insideAny('fe80::1%eth0', ['fe80::/10'])).toBe(true);
    expect(insideAny('10.0.0.1', ['::/0'])).toBe(false);
  });
});

describe('self-unlock', () => {
  const ctx: LoginContext = { user: 'alice', service: 'sudo' };
  async function lockOut(e: LoginEngine, p: Partial<Policy> = {}) {
    await cache.applySnapshot(snapshot({ maxAttempts: 3, ...p }), now);
    for (let i = 0; i < 3; i++) await e.verify(ctx, wrong());
    expect((await cache.getCounters('alice')).lockedAt).not.toBeNull();
  }
  it('two consecutive valid codes end the lockout; counters and events say so', async () => {
    const e = engine();
    await lockOut(e);
    const offer = await e.begin(ctx);
    expect(offer).toMatchObject({ type: 'prompt', prompts: 3 });
    expect(offer.type === 'prompt' && offer.message).toMatch(/type two consecutive codes/);
    const first = await e.verify(ctx, code(0));
    expect(first).toMatchObject({ type: 'invalid', message: expect.stringMatching(/next code/) });
    // Still locked between the two codes.
    expect((await e.begin(ctx)).type).toBe('prompt');
    expect(await e.lockedUsers()).toEqual(['alice']);
    expect(await e.verify(ctx, code(1))).toMatchObject({ type: 'ok' });
    expect(await e.lockedUsers()).toEqual([]);
    const c = await cache.getCounters('alice');
    expect(c).toMatchObject({ failures: 0, lockedAt: null, unlockStep: null });
    expect(c.lastStep).toBe(timeStep(now) + 1);
    const reasons = (await events()).map((x) => `${x.outcome}/${x.reason ?? ''}`);
    expect(reasons.slice(-4)).toEqual([
      'locked/locked',
      'prompt/self-unlock-first-code',
      'locked/locked',
      'ok/self-unlock',
    ]);
  });
  it('a brute-forcer without the phone cannot: wrong codes never unlock, and run out', async () => {
    const e = engine();
    await lockOut(e);
    // Two valid-looking but wrong codes in a row: still locked.
    expect((await e.verify(ctx, wrong())).type).toBe('invalid');
    expect((await e.verify(ctx, wrong())).type).toBe('invalid');
    expect(await e.lockedUsers()).toEqual(['alice']);
    // A valid code then a wrong one: the first is forgotten; that wrong code was the last of the
    // lockout's maxAttempts, so from now on only time or an admin ends it.
    expect((await e.verify(ctx, code(0))).type).toBe('invalid');
    expect(await e.verify(ctx, wrong())).toMatchObject({
      type: 'locked',
      message: expect.stringMatching(/too many wrong codes to unlock it yourself/),
    });
    const c = await cache.getCounters('alice');
    expect(c.failures).toBe(6);
    expect((await e.begin(ctx)).type).toBe('deny');
    expect((await e.verify(ctx, code(1))).type).toBe('locked');
    expect(await e.lockedUsers()).toEqual(['alice']);
    // The lockout was never extended by the attempts.
    expect(c.lockedUntil).toBe(T0 + 900_000);
  });
  it('the same code twice, or codes two steps apart, do not unlock', async () => {
    const e = engine();
    await lockOut(e);
    expect((await e.verify(ctx, code(-1))).type).toBe('invalid');
    expect((await e.verify(ctx, code(-1))).type).not.toBe('ok'); // a replay
    expect((await e.verify(ctx, code(-1 + 0))).type).not.toBe('ok');
    expect(await e.lockedUsers()).toEqual(['alice']);
    now += 60_000;
    expect((await e.verify(ctx, code(-1))).type).toBe('invalid'); // first
    expect((await e.verify(ctx, code(1))).type).toBe('invalid'); // two steps on: a new first
    expect(await e.lockedUsers()).toEqual(['alice']);
  });
  it('selfUnlock off: the lockout is a refusal at begin, as before', async () => {
    const e = engine();
    await lockOut(e, { selfUnlock: false });
    expect((await e.begin(ctx)).type).toBe('deny');
    expect((await e.verify(ctx, code(0))).type).toBe('locked');
  });
});

describe('rememberSeconds', () => {
  const sudo: LoginContext = { user: 'alice', service: 'sudo' };
  const su: LoginContext = { user: 'alice', service: 'su' };
  it('skips the same user and service within the time, not another service, not after it', async () => {
    await cache.applySnapshot(snapshot({ rememberSeconds: 300 }), now);
    const e = engine();
    expect((await e.begin(sudo)).type).toBe('prompt');
    expect((await e.verify(sudo, code())).type).toBe('ok');
    now += 60_000;
    expect(await e.begin(sudo)).toEqual({ type: 'skip' });
    expect((await e.begin(su)).type).toBe('prompt');
    now += 240_000;
    expect((await e.begin(sudo)).type).toBe('prompt');
    expect((await events()).filter((x) => x.reason === 'remembered')).toHaveLength(1);
  });
  it('forgets on a failure, an unlock, a reset, a policy change, a clock set back', async () => {
    await cache.applySnapshot(snapshot({ rememberSeconds: 3600 }), now);
    const e = engine();
    const succeed = async (k: number) => {
      expect((await e.verify(sudo, code(k))).type).toBe('ok');
      expect((await e.begin(sudo)).type).toBe('skip');
    };
    await succeed(-1);
    // A failure, on another service even.
    expect((await e.verify(su, wrong())).type).toBe('invalid');
    expect((await e.begin(sudo)).type).toBe('prompt');
    await succeed(0);
    await e.unlock('alice');
    expect((await e.begin(sudo)).type).toBe('prompt');
    await succeed(1);
    await cache.applySnapshot(snapshot({ rememberSeconds: 3600, prompts: 2 }), now);
    expect((await e.begin(sudo)).type).toBe('prompt');
    now += 30_000;
    await succeed(1);
    // A reset: the user's secret changes (here: re-enrolled with a new one).
    await cache.applySnapshot(
      snapshot({ rememberSeconds: 3600, prompts: 2 }, { totp: newTotpParams() }),
      now,
    );
    expect((await e.begin(sudo)).type).toBe('prompt');
    await cache.applySnapshot(snapshot({ rememberSeconds: 3600, prompts: 2 }), now);
    now += 30_000;
    await succeed(1);
    now -= 120_000;
    expect((await e.begin(sudo)).type).toBe('prompt');
  });
  it('off by default', async () => {
    await cache.applySnapshot(snapshot(), now);
    const e = engine();
    expect((await e.verify(sudo, code())).type).toBe('ok');
    expect((await e.begin(sudo)).type).toBe('prompt');
  });
});
