/**
 * Recovery codes end to end: the real server issues them (idvctl), the real agent checks them at
 * login through the real helper, online and offline, once each; the server stops listing a code
 * once the agent has reported it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RECOVERY_CODE_RE } from '../../protocol/recovery.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { generateCode } from '../../protocol/totp.js';
import {
  addEnrolledUser,
  agentStatus,
  enroll,
  askAgent,
  begin,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { pamEnv, runHelper } from './helper-world.js';

let server: TestServer | undefined;
let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  server?.kill();
  agent = undefined;
  server = undefined;
});

async function remaining(s: TestServer, name: string): Promise<number> {
  const r = await idvctl(s, ['user', 'recovery-codes', name]);
  expect(r.code).toBe(0);
  return (r.json as { user: string; remaining: number }).remaining;
}

/** One login through the real helper, the code typed as pam_exec's expose_authtok hands it. */
const login = (a: TestAgent, user: string, typed: string) =>
  runHelper(['--socket', a.socket, '--authtok'], pamEnv(user), typed);

describe('recovery codes at login', () => {
  it('online and offline, each code once; the server forgets a code once it is reported', async () => {
    server = await startServer();
    await addEnrolledUser(server, 'alice');
    const regen = await idvctl(server, ['user', 'recovery-codes', 'alice', '--regenerate']);
    expect(regen.code).toBe(0);
    const { codes } = regen.json as { user: string; codes: string[] };
    expect(codes).toHaveLength(10);
    for (const c of codes) expect(c).toMatch(RECOVERY_CODE_RE);
    const [c0, c1, c2] = codes as [string, string, string];

    agent = await startAgent({ server, policy: { maxAttempts: 5, prompts: 1 } });
    await waitConnected(agent, true);
    await waitFor(async () => {
      const [r] = await askAgent(agent!.socket, [begin('alice', 'sshd')]);
      return r?.type === 'prompt';
    }, 'the agent to ask alice for a code');

    // Online: typed the way a person might copy it from paper (upper case, spaces around).
    const ok = await login(agent, 'alice', ` ${c0.toUpperCase()} `);
    expect(ok.stdout.trim()).toBe(
      'Recovery code accepted; 9 recovery codes left. If your phone is lost, set up a new one in the portal',
    );
    expect(ok.code).toBe(0);
    // The same code again: refused like a wrong code, and counted.
    const again = await login(agent, 'alice', c0);
    expect(again.code).toBe(1);
    expect(again.stdout.trim()).toBe('Wrong code, 4 attempts left');
    // The agent reported it: the server removes it everywhere.
    await waitFor(async () => (await remaining(server!, 'alice')) === 9, 'the server to drop c0');
    const events = await idvctl(server, ['events', '--user', 'alice']);
    expect(JSON.stringify(events.json)).toMatch(/"reason":"recovery"/);

    // Offline: the server is down, the cache decides; the event waits in the outbox.
    await server.stop();
    await waitConnected(agent, false);
    const off = await login(agent, 'alice', c1);
    expect(off.code).toBe(0);
    expect(off.stdout).toContain('8 recovery codes left');
    const offAgain = await login(agent, 'alice', c1);
    expect(offAgain.code).toBe(1);
    expect(offAgain.stdout.trim()).toBe('Wrong code, 4 attempts left');
    expect((await agentStatus(agent)).outbox).toBeGreaterThan(0);
    // A restart of the agent while offline keeps the code used.
    await agent.kill('SIGTERM');
    await agent.restart();
    expect((await login(agent, 'alice', c1)).code).toBe(1);

    // Back online: the event arrives, the server drops the code, and the agent keeps refusing it.
    await server.restart();
    await waitConnected(agent, true);
    await waitFor(async () => (await agentStatus(agent!)).outbox === 0, 'outbox uploaded');
    await waitFor(async () => (await remaining(server!, 'alice')) === 8, 'the server to drop c1');
    expect((await login(agent, 'alice', c1)).code).toBe(1);
    // The other codes still work (and the failures above did not lock alice out).
    const third = await login(agent, 'alice', c2);
    expect(third.code).toBe(0);
    expect(third.stdout).toContain('7 recovery codes left');

    // Never a typed code in the logs.
    for (const c of codes) {
      expect(agent.logs()).not.toContain(c);
      expect(agent.logs().toLowerCase()).not.toContain(c.replace(/-/g, ''));
      expect(server.logs()).not.toContain(c);
    }
  });

  it('a regenerated set replaces the old one on the agent at once', async () => {
    server = await startServer();
    await addEnrolledUser(server, 'bob');
    const first = await idvctl(server, ['user', 'recovery-codes', 'bob', '--regenerate']);
    const old = (first.json as { codes: string[] }).codes[0]!;
    agent = await startAgent({ server, policy: { prompts: 1 } });
    await waitConnected(agent, true);
    const before = (await agentStatus(agent)).revision;
    const second = await idvctl(server, ['user', 'recovery-codes', 'bob', '--regenerate']);
    const fresh = (second.json as { codes: string[] }).codes[0]!;
    await waitFor(async () => (await agentStatus(agent!)).revision > before, 'the push');
    // The new codes work; the old ones never again.
    expect((await login(agent, 'bob', old)).code).toBe(1);
    const ok = await login(agent, 'bob', fresh);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('9 recovery codes left');
  });
});

describe('replay guard after a re-enrollment', () => {
  it("the new app's code is accepted in the time step of the last accepted old code", async () => {
    server = await startServer();
    const { totp: oldApp } = await addEnrolledUser(server, 'carol');
    agent = await startAgent({ server, policy: { window: 1, prompts: 1 } });
    await waitConnected(agent, true);
    // The last accepted old code is the one of the NEXT step (window 1 accepts it), so the
    // replay guard stands one step ahead and the new app's code below falls on that very step.
    const next = Date.now() + oldApp.period * 1000;
    expect((await login(agent, 'carol', generateCode(oldApp, next))).code).toBe(0);

    const askCarol = async () => (await askAgent(agent!.socket, [begin('carol', 'sshd')]))[0];
    expect((await idvctl(server, ['user', 'reset-mfa', 'carol'])).code).toBe(0);
    // The reset reached the agent (it ended the enrollment grace: refused until the new app)...
    await waitFor(async () => (await askCarol())?.type === 'deny', 'the agent to see the reset');
    // ...then the new app is set up and confirmed.
    const newApp = await enroll(server, 'carol');
    await waitFor(async () => (await askCarol())?.type === 'prompt', 'the new secret');
    const r = await login(agent, 'carol', generateCode(newApp, next));
    expect(r.stdout.trim()).toBe('');
    expect(r.code).toBe(0);
    // The old app's codes are dead, and the new code is not accepted twice.
    expect((await login(agent, 'carol', generateCode(oldApp, Date.now()))).code).toBe(1);
    expect((await login(agent, 'carol', generateCode(newApp, next))).code).toBe(1);
  });
});
