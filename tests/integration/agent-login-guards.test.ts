/**
 * Guards on the login path, through the real server, the real agent and the real helper:
 * one user cannot take every socket slot, and a name that differs from an enrolled user's only
 * in case is that user (asked for their code), never an unknown user let through.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGES } from '../../agent/policy/messages.js';
import { askAgent, begin, setPolicy, waitForLocalSocket } from '../helpers/agent.js';
import { pamEnv, runHelper, startWorld, type World } from './helper-world.js';

let world: World;
const sock = () => ['--socket', world.agent.socket];

beforeAll(async () => {
  world = await startWorld({ unknownUsers: 'skip', prompts: 3, maxAttempts: 3 });
}, 60_000);
afterAll(async () => {
  await world?.stop();
});

/** Opens a connection and sends `begin`; resolves with its first reply (the socket stays open). */
function openBegin(
  path: string,
  user: string,
): Promise<{ s: net.Socket; reply: { type: string } }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path, () => s.write(`${JSON.stringify(begin(user))}\n`));
    let text = '';
    s.on('data', (d) => {
      text += d.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) resolve({ s, reply: JSON.parse(text.slice(0, nl)) as { type: string } });
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error('closed before a reply')));
  });
}

describe('per-user socket slots', () => {
  it('254 parallel begins of one user: at most 8 prompts, a clear refusal for the rest; another user logs in', async () => {
    const flooder = await world.enrolled('lg-flood');
    const other = await world.enrolled('lg-other');
    // The agent takes 256 connections at once: start from none but the check's own (the set-up's
    // are closed on the agent's side too), so that the flood, the helper's login and that one
    // connection, perhaps not yet torn down, fit in whatever the load.
    await waitForLocalSocket(world.agent.socket, 0);
    const flood = Array.from({ length: 254 }, () => openBegin(world.agent.socket, flooder.name));
    // The other user logs in through the real helper while the flood is in flight.
    const login = runHelper([...sock(), '--authtok'], pamEnv(other.name), other.code());
    const opened = await Promise.all(flood);
    try {
      const replies = opened.map((o) => o.reply);
      const prompts = replies.filter((r) => r.type === 'prompt').length;
      expect(prompts).toBeGreaterThan(0);
      expect(prompts).toBeLessThanOrEqual(8);
      for (const r of replies.filter((x) => x.type !== 'prompt')) {
        expect(r).toEqual({ type: 'deny', message: MESSAGES.tooManyLogins });
      }
      const r = await login;
      expect(r.stdout).not.toContain('unavailable');
      expect(r.code).toBe(0);
      // The refused connections hold no prompt slot, only connections: close them and wait
      // until the agent holds just the prompts, so the next begin meets the per-user limit and
      // not the agent-wide one.
      for (const o of opened) if (o.reply.type !== 'prompt') o.s.destroy();
      const load = await waitForLocalSocket(world.agent.socket, prompts);
      expect(load.prompts).toEqual({ 'lg-flood': prompts });
      // A name in another case is the same account: it gets no extra slots.
      const [folded] = await askAgent(world.agent.socket, [begin('LG-Flood')]);
      expect(folded).toEqual({ type: 'deny', message: MESSAGES.tooManyLogins });
    } finally {
      for (const o of opened) o.s.destroy();
    }
  }, 60_000);
});

describe('names in another case', () => {
  it('unknownUsers=skip: C1 is asked for c1s code, not let through', async () => {
    const u = await world.enrolled('lg-c1');
    const upper = 'LG-C1';
    // A wrong code is refused, and it counts against c1 (one counter, one account).
    const wrong = await runHelper([...sock(), '--authtok'], pamEnv(upper), u.wrong());
    expect(wrong.code).toBe(1);
    expect(wrong.stdout.trim()).toBe('Wrong code, 2 attempts left');
    const lower = await runHelper([...sock(), '--authtok'], pamEnv(u.name), u.wrong());
    expect(lower.stdout.trim()).toBe('Wrong code, 1 attempt left');
    // The right code lets the login through.
    const ok = await runHelper([...sock(), '--authtok'], pamEnv('Lg-C1'), u.code());
    expect(ok.code).toBe(0);
    // A name nobody has in any case is still "not managed here".
    const nobody = await runHelper([...sock(), '--authtok'], pamEnv('LG-NOBODY'), 'x');
    expect(nobody.code).toBe(0);
  }, 60_000);

  it('two enrolled users that differ only in case: the exact name is used, a third spelling is refused', async () => {
    const a = await world.enrolled('lg-twin');
    const b = await world.enrolled('LG-twin');
    const exact = await runHelper([...sock(), '--authtok'], pamEnv(b.name), b.code());
    expect(exact.code).toBe(0);
    const other = await runHelper([...sock(), '--authtok'], pamEnv(a.name), a.code());
    expect(other.code).toBe(0);
    const third = await runHelper([...sock(), '--authtok'], pamEnv('Lg-Twin'), a.code(1));
    expect(third.code).toBe(1);
    expect(third.stdout.trim()).toBe(MESSAGES.ambiguousName);
    // unknownUsers=deny changes nothing for a folded name: still that user's code.
    await setPolicy(world.server, { unknownUsers: 'deny' });
    const c = await world.enrolled('lg-deny-c');
    const denyMode = await runHelper([...sock(), '--authtok'], pamEnv('LG-DENY-C'), c.code());
    expect(denyMode.code).toBe(0);
    await setPolicy(world.server, { unknownUsers: 'skip' });
  }, 60_000);
});
