/**
 * The account-wide cap on helpdesk guesses (issue 22): a real server and two real agents (A and
 * B) of one device group with accountMaxFailures 3. Three wrong codes lock the account; then only
 * helpdesk codes are judged, until the account's failures over both devices reach 6 (2 ×
 * accountMaxFailures): after that neither device judges any code, not even a genuine helpdesk
 * code, and the user is told so, until an admin unlocks. Each step waits until both agents hold
 * the server's current revision (the count is pushed with each failure), never for time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELPDESK_MESSAGES } from '../../agent/policy/helpdesk.js';
import type { TotpParams } from '../../protocol/messages.js';
import { generateCode } from '../../protocol/totp.js';
import {
  addEnrolledUser,
  agentStatus,
  askAgent,
  begin,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { pamEnv, runHelper } from './helper-world.js';

const USER = 'cap-alice';
/** Shaped like a helpdesk code, issued by nobody. */
const GUESS = '000011112222';

let server: TestServer;
let a: TestAgent;
let b: TestAgent;
let totp: TotpParams;

const login = (agent: TestAgent, code: string) =>
  runHelper(['--socket', agent.socket, '--authtok'], pamEnv(USER), code);

/** The account as `idvctl user show` prints it. */
async function account(): Promise<{ accountFailures: number; accountLockedAt: string | null }> {
  const r = await idvctl(server, ['user', 'show', USER]);
  return r.json as never;
}

/** Waits until the server counted `failures` and both agents applied its current revision. */
async function settled(failures: number): Promise<void> {
  await waitFor(
    async () => (await account()).accountFailures === failures,
    `the server to count ${failures} failures`,
    60_000,
  );
  const res = await fetch(new URL('/healthz', server.url));
  const { revision } = (await res.json()) as { revision: number };
  for (const agent of [a, b])
    await waitFor(
      async () => (await agentStatus(agent)).revision >= revision,
      `the agents to apply revision ${revision}`,
      60_000,
    );
}

/** A code of the user's app far from now: wrong, but shaped like the right one. */
const wrongTotp = () => generateCode(totp, Date.now() + 3600_000);

beforeAll(async () => {
  server = await startServer();
  const policy = { maxAttempts: 4, prompts: 1, selfUnlock: false, accountMaxFailures: 3 };
  a = await startAgent({ server, policy, name: 'cap-a' });
  b = await startAgent({ server, name: 'cap-b' });
  ({ totp } = await addEnrolledUser(server, USER));
  for (const agent of [a, b])
    await waitFor(async () => {
      const [r] = await askAgent(agent.socket, [begin(USER, 'sshd')]);
      return r?.type === 'prompt';
    }, 'the agents to know the user');
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await server?.stop();
});

describe('helpdesk guesses while the account is locked', () => {
  it('are capped account-wide at 2 × accountMaxFailures; then nothing is judged until an admin unlock', async () => {
    // Three wrong app codes on A lock the account (on both devices).
    for (let i = 0; i < 3; i++) expect((await login(a, wrongTotp())).code).toBe(1);
    await settled(3);
    expect((await account()).accountLockedAt).not.toBeNull();
    const genuine = (
      (await idvctl(server, ['user', 'helpdesk-code', USER, '--device', b.deviceId])).json as {
        code: string;
      }
    ).code;

    // Three more failures are judged, wherever they are typed (A, B, A) ...
    const judged: string[] = [];
    for (const [agent, n] of [
      [a, 4],
      [b, 5],
      [a, 6],
    ] as const) {
      const r = await login(agent, GUESS);
      expect(r.code).toBe(1);
      // After the offer ("A helpdesk code from your administrator works here"): the answer.
      judged.push(r.stdout.trim().split('\n').at(-1) ?? '');
      await settled(n);
    }
    expect(judged.slice(0, 2)).toEqual([
      'Wrong code, 2 attempts left',
      'Wrong code, 1 attempt left',
    ]);
    expect(judged[2]).toBe(HELPDESK_MESSAGES.closed);

    // ... and then none, on either device: not a guess, not even the genuine code.
    for (const agent of [a, b]) {
      const [r] = await askAgent(agent.socket, [begin(USER, 'sshd')]);
      expect(r).toEqual({ type: 'deny', message: HELPDESK_MESSAGES.closed });
    }
    const refused = await login(b, genuine);
    expect(refused.code).toBe(1);
    expect(refused.stdout.trim()).toBe(HELPDESK_MESSAGES.closed);
    await login(a, GUESS);
    const reasons = async () =>
      (
        (await idvctl(server, ['events', '--user', USER])).json as {
          events: { reason?: string }[];
        }
      ).events.map((e) => e.reason ?? '');
    const seen = await waitFor(
      async () => {
        const all = await reasons();
        return all.filter((r) => r === 'account').length >= 4 ? all : null;
      },
      'the refusals to reach the server',
      60_000,
    );
    expect(seen.filter((r) => r.startsWith('helpdesk-'))).toEqual(
      Array(3).fill('helpdesk-mismatch'),
    );
    // The refusals checked no code: the count stays where the cap closed it.
    expect((await account()).accountFailures).toBe(6);

    // An admin unlock opens the account again: the app's code logs in.
    expect((await idvctl(server, ['user', 'unlock', USER])).code).toBe(0);
    await settled(0);
    expect((await login(b, generateCode(totp, Date.now()))).code).toBe(0);
  }, 180_000);
});
