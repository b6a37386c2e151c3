/**
 * The trusted clock (agent/clock/trusted.ts) with a fake boot and wall clock: the one fake this
 * project allows (time). The real agent under libfaketime is tests/integration/agent-clock.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { TrustedClock, type ClockReading } from '../../agent/clock/trusted.js';
import { systemBoot } from '../../agent/clock/boot.js';

const SERVER = 1_800_000_000_000;

function world(id: string | null = 'boot-a') {
  const t = { wall: SERVER - 180_000, boot: 5_000_000, id };
  const saved: ClockReading[] = [];
  const store = {
    load: async () => saved.at(-1),
    save: async (r: ClockReading) => void saved.push(r),
  };
  const boot = {
    get id() {
      return t.id;
    },
    clockMs: () => t.boot,
  };
  const advance = (ms: number) => {
    t.wall += ms;
    t.boot += ms;
  };
  return {
    t,
    saved,
    store,
    boot,
    advance,
    open: () => TrustedClock.open(boot, () => t.wall, store),
  };
}

describe('TrustedClock', () => {
  it('before any server time: the local clock, source local, offset unknown', async () => {
    const w = world();
    const c = await w.open();
    expect(c.now()).toBe(w.t.wall);
    expect(c.view()).toEqual({ source: 'local', offsetMs: null, syncedAt: null });
  });

  it('after a reading: server time carried on the boot clock, whatever the wall clock does', async () => {
    const w = world();
    const c = await w.open();
    await c.observe(SERVER);
    w.advance(60_000);
    expect(c.now()).toBe(SERVER + 60_000);
    w.t.wall -= 3_600_000; // someone sets the local clock back an hour
    expect(c.now()).toBe(SERVER + 60_000);
    w.t.wall += 7_200_000; // ... and forward
    expect(c.now()).toBe(SERVER + 60_000);
    expect(c.view()).toMatchObject({ source: 'server', syncedAt: SERVER });
  });

  it('a restart in the same boot keeps the reading; a new boot id or a boot clock gone back drops it', async () => {
    const w = world();
    await (await w.open()).observe(SERVER);
    w.advance(10_000);
    expect((await w.open()).now()).toBe(SERVER + 10_000);
    expect((await w.open()).source).toBe('server');

    w.t.boot = 1_000; // the boot clock restarted (a reboot the id did not show)
    expect((await w.open()).source).toBe('local');
    w.t.boot = 6_000_000;
    w.t.id = 'boot-b';
    const after = await w.open();
    expect(after.source).toBe('local');
    expect(after.now()).toBe(w.t.wall);
  });

  it('without a boot id: trusted in this process only', async () => {
    const w = world(null);
    const c = await w.open();
    await c.observe(SERVER);
    expect(c.source).toBe('server');
    expect((await w.open()).source).toBe('local');
  });

  it('saves a reading only when it says something new (drift over 1 s, or 10 minutes on)', async () => {
    const w = world();
    const c = await w.open();
    await c.observe(SERVER);
    expect(w.saved).toHaveLength(1);
    w.advance(5_000);
    await c.observe(SERVER + 5_300);
    expect(w.saved).toHaveLength(1);
    await c.observe(SERVER + 7_000); // the server's clock stepped 2 s
    expect(w.saved).toHaveLength(2);
    w.advance(11 * 60_000);
    await c.observe(SERVER + 7_000 + 11 * 60_000 - 5_000);
    expect(w.saved).toHaveLength(3);
  });

  it('learn: an offset from codes is used until the next server time, never over a current one', async () => {
    const w = world();
    const c = await w.open();
    await c.learn(180_000);
    expect(c.view()).toEqual({ source: 'learned', offsetMs: 180_000, syncedAt: null });
    w.advance(30_000);
    w.t.wall -= 600_000;
    expect(c.now()).toBe(SERVER + 30_000);
    expect((await w.open()).source).toBe('learned');
    await c.observe(SERVER + 40_000);
    expect(c.source).toBe('server');
    await c.learn(999_000);
    expect(c.source).toBe('server');
    expect(c.now()).toBe(SERVER + 40_000);
  });

  it('an unreadable saved reading is ignored (local clock)', async () => {
    const boot = { id: 'x', clockMs: () => 1 };
    const bad = { load: async () => ({ time: 'soon' }), save: async () => undefined };
    expect((await TrustedClock.open(boot, () => 42, bad)).now()).toBe(42);
  });
});

describe('systemBoot on this machine (Linux)', () => {
  it('reads the boot id and a boot clock that counts in ms and does not go back', () => {
    const b = systemBoot();
    expect(b.id).toMatch(/^[0-9a-f-]{36}$/);
    const a = b.clockMs();
    expect(a).toBeGreaterThan(0);
    expect(b.clockMs()).toBeGreaterThanOrEqual(a);
    expect(systemBoot('/nonexistent/boot_id').id).toBeNull();
  });
});
