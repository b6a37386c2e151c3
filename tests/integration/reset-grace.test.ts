/**
 * An MFA reset, the admin's answer to a lost phone or a compromised account, ends the enrollment
 * grace: a user reset in the first week (grace still running since `user add`) must not log in
 * without a code until the new app is set up. `--grace` starts a new grace period on purpose.
 * The real server, idvctl, agent and helper.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateCode } from '../../protocol/totp.js';
import {
  addEnrolledUser,
  askAgent,
  begin,
  enroll,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import { pamEnv, runHelper } from './helper-world.js';

let server: TestServer | undefined;
let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  server?.kill();
  agent = undefined;
  server = undefined;
});

/** idvctl as an admin reads it (text, not --json). */
const plain = (s: TestServer, args: string[]) =>
  run(IDVCTL_BIN, ['--server', s.url, ...args], { IDV_TOKEN: s.adminToken });

const login = (a: TestAgent, user: string, typed: string) =>
  runHelper(['--socket', a.socket, '--authtok'], pamEnv(user), typed);

describe('reset-mfa and the enrollment grace', () => {
  it('a reset in the first week ends the grace: refused with a plain message until the new app is confirmed', async () => {
    server = await startServer();
    const { totp: oldApp } = await addEnrolledUser(server, 'erin'); // added now: 7 days of grace left
    agent = await startAgent({ server, policy: { prompts: 1 } });
    await waitConnected(agent, true);
    const ask = async () => (await askAgent(agent!.socket, [begin('erin', 'sshd')]))[0];
    await waitFor(async () => (await ask())?.type === 'prompt', 'the agent to ask erin');

    const reset = await plain(server, ['user', 'reset-mfa', 'erin']);
    expect(reset.code).toBe(0);
    await waitFor(async () => (await ask())?.type !== 'prompt', 'the agent to see the reset');
    // Refused, not let in without a code as during the grace...
    const refused = await login(agent, 'erin', generateCode(oldApp, Date.now()));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('Your authenticator app was reset');
    // ...and the admin was told so.
    expect(reset.stdout).toContain(
      'Enrollment grace: ended. No login that needs a code until the new app is set up',
    );
    expect((await idvctl(server, ['user', 'show', 'erin'])).json).toMatchObject({
      enrolled: false,
      graceStartedAt: null,
    });

    const newApp = await enroll(server, 'erin');
    await waitFor(async () => (await ask())?.type === 'prompt', 'the new secret');
    expect((await login(agent, 'erin', generateCode(newApp, Date.now()))).code).toBe(0);
  });

  it('--grace starts a new grace period, said plainly: logins without a code until it runs out', async () => {
    server = await startServer();
    await addEnrolledUser(server, 'finn');
    agent = await startAgent({ server, policy: { prompts: 1 } });
    await waitConnected(agent, true);
    const reset = await plain(server, ['user', 'reset-mfa', 'finn', '--grace']);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toMatch(/Enrollment grace: a new one started \S+: logins without a code/);
    await waitFor(
      async () => (await askAgent(agent!.socket, [begin('finn', 'sshd')]))[0]?.type === 'skip',
      'the agent to see the reset',
    );
    const r = await login(agent, 'finn', '');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('You must set up your authenticator app by');
  });
});
