/**
 * One use per code, fleet-wide (issue 14): a code accepted on one machine is refused on every
 * other machine where the user may log in, also in another device group, and on a machine that
 * was offline meanwhile once it reconnects. Real server, real agents, the real helper.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '../../agent/policy/messages.js';
import {
  addEnrolledUser,
  agentStatus,
  codeFor,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { pamEnv, runHelper } from './helper-world.js';

/** The machine may be loaded (parallel forks): conditions get a minute, not the default 10 s. */
const LOADED_MS = 60_000;
const connected = (agent: TestAgent, want: boolean) =>
  waitFor(
    async () => (await agentStatus(agent)).connected === want,
    `connected=${want}`,
    LOADED_MS,
  );

let server: TestServer | undefined;
const agents: TestAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await server?.stop();
  server = undefined;
});

const login = (agent: TestAgent, user: string, code: string) =>
  runHelper(['--socket', agent.socket, '--authtok'], pamEnv(user), code);

describe('one use per code, fleet-wide', { timeout: 180_000 }, () => {
  it('a code accepted on A is refused on B (another device group) and on C after it reconnects', async () => {
    server = await startServer();
    const { totp } = await addEnrolledUser(server, 'rp-alice', ['staff']);
    // window 4: on a loaded machine the same code must still be in the window a minute later,
    // so that B's refusal is the replay guard's, not the clock's.
    const a = await startAgent({
      server,
      deviceGroup: 'rp-lab',
      policy: { maxAttempts: 5, window: 4 },
    });
    const b = await startAgent({
      server,
      deviceGroup: 'rp-office',
      policy: { maxAttempts: 5, window: 4, userGroups: ['staff'] },
    });
    const c = await startAgent({ server, deviceGroup: 'rp-lab' });
    agents.push(a, b, c);
    for (const x of agents) await connected(x, true);
    // C goes offline before the login on A.
    await c.kill('SIGTERM');

    const before = (await agentStatus(b)).revision;
    const code = codeFor(totp);
    const first = await login(a, 'rp-alice', code);
    expect(first.code).toBe(0);

    // The accepted step reaches B as a change of the user's synced state.
    await waitFor(
      async () => (await agentStatus(b)).revision > before,
      'the accepted step pushed to B',
      LOADED_MS,
    );
    const replay = await login(b, 'rp-alice', code);
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain(MESSAGES.replayed(4));
    const events = await idvctl(server, ['events', '--user', 'rp-alice', '--device', b.deviceId]);
    expect(JSON.stringify(events.json)).toContain('"replay"');

    // C was offline: it learns the step when it reconnects, before it says it is connected.
    await c.restart();
    await connected(c, true);
    const late = await login(c, 'rp-alice', code);
    expect(late.code).toBe(1);
    expect(late.stdout).toContain('This code was already used');

    // A newer step is still accepted on B: only that step and older ones are refused.
    const next = await login(b, 'rp-alice', codeFor(totp, Date.now() + totp.period * 1000));
    expect(next.code).toBe(0);
  });
});
