/**
 * One attempt budget per account (issue 14): failed codes are counted by the server over all
 * devices; reaching accountMaxFailures locks the account on every device at once, an agent that
 * was offline applies it when it reconnects, an admin unlock clears it, a success resets the
 * count, and the count survives kill -9 of agent and server, each event counted once.
 * Real server, real agents, the real helper; on SQLite and on a real PostgreSQL (where the
 * account lock, a ms timestamp, once overflowed a 32-bit column and was never written).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '../../agent/policy/messages.js';
import type { TotpParams } from '../../protocol/messages.js';
import { generateCode } from '../../protocol/totp.js';
import {
  addEnrolledUser,
  agentStatus,
  codeFor,
  setPolicy,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { storeBackends } from '../helpers/stores.js';
import { pamEnv, runHelper } from './helper-world.js';

const backends = await storeBackends();

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

/** A code valid in none of the steps around now. */
function wrongCode(totp: TotpParams): string {
  const valid = new Set(
    [-2, -1, 0, 1, 2].map((s) => generateCode(totp, Date.now() + s * totp.period * 1000)),
  );
  for (let n = 0; ; n++) {
    const c = String(100000 + n * 7919).padStart(totp.digits, '0');
    if (!valid.has(c)) return c;
  }
}

async function account(
  user: string,
): Promise<{ accountFailures: number; accountLockedAt: string | null }> {
  const r = await idvctl(server!, ['user', 'show', user]);
  if (r.code !== 0) throw new Error(`user show: ${r.stdout}${r.stderr}`);
  return r.json as never;
}

const failuresAre = (user: string, n: number) =>
  waitFor(
    async () => (await account(user)).accountFailures === n,
    `${n} account failures`,
    LOADED_MS,
  );

describe.each(backends)('on $name', (backend) => {
  if (backend.skip) it.skip(`postgres: ${backend.skip}`, () => undefined);
  describe.skipIf(backend.skip !== null)(
    'one attempt budget per account',
    { timeout: 240_000 },
    () => {
      it('failures spread over five agents lock the account everywhere at exactly the budget; unlock clears', async () => {
        server = await startServer({ database: await backend.database() });
        const { totp } = await addEnrolledUser(server, 'ab-alice');
        const policy = { maxAttempts: 5, accountMaxFailures: 7 };
        await setPolicy(server, policy, 'ab-lab');
        await setPolicy(server, policy, 'ab-office');
        for (let i = 0; i < 6; i++) {
          agents.push(await startAgent({ server, deviceGroup: i % 2 ? 'ab-office' : 'ab-lab' }));
        }
        for (const a of agents) await connected(a, true);
        const offline = agents[5]!;
        await offline.kill('SIGTERM');

        // 2 + 2 + 1 + 1 + 1 = 7 failures; no agent reaches its own maxAttempts (5).
        const spread = [0, 0, 1, 1, 2, 3, 4];
        for (const [n, i] of spread.entries()) {
          const r = await login(agents[i]!, 'ab-alice', wrongCode(totp));
          expect(r.code).toBe(1);
          // Each failure reaches the server at once (no batching delay to wait out).
          await failuresAre('ab-alice', n + 1);
          if (n + 1 < 7) expect((await account('ab-alice')).accountLockedAt).toBeNull();
        }
        expect((await account('ab-alice')).accountLockedAt).not.toBeNull();
        const events = await idvctl(server, ['events', '--user', 'ab-alice']);
        expect(JSON.stringify(events.json)).toContain('"account-max-failures"');

        // Pushed to every connected agent: the right code is refused everywhere, as account-locked.
        const right = codeFor(totp);
        for (const a of agents.slice(0, 5)) {
          await waitFor(
            async () => (await agentStatus(a)).locked.includes('ab-alice'),
            'the account lock pushed',
            LOADED_MS,
          );
          const r = await login(a, 'ab-alice', right);
          expect(r.code).toBe(1);
          expect(r.stdout).toContain(MESSAGES.accountLocked);
        }
        // The local break-glass unlock clears this machine's counters, not the account lock: it says so.
        const local = await agents[0]!.cli(['unlock', 'ab-alice']);
        expect(local.code).toBe(0);
        expect(local.stderr).toContain('still locked on every machine');
        expect((await login(agents[0]!, 'ab-alice', codeFor(totp))).stdout).toContain(
          MESSAGES.accountLocked,
        );
        // Those refusals checked no code: they did not count.
        expect((await account('ab-alice')).accountFailures).toBe(7);

        // The agent that was offline during the lock applies it when it reconnects.
        await offline.restart();
        await connected(offline, true);
        const late = await login(offline, 'ab-alice', right);
        expect(late.code).toBe(1);
        expect(late.stdout).toContain(MESSAGES.accountLocked);

        // An admin unlock clears it (and the count) on every device.
        expect((await idvctl(server, ['user', 'unlock', 'ab-alice'])).code).toBe(0);
        expect(await account('ab-alice')).toMatchObject({
          accountFailures: 0,
          accountLockedAt: null,
        });
        await waitFor(
          async () => !(await agentStatus(agents[3]!)).locked.includes('ab-alice'),
          'the unlock pushed',
          LOADED_MS,
        );
        expect((await login(agents[3]!, 'ab-alice', codeFor(totp))).code).toBe(0);
      });

      it('a success anywhere resets the count; the count survives kill -9 of agent and server, each event once', async () => {
        server = await startServer({ database: await backend.database() });
        const { totp } = await addEnrolledUser(server, 'ab-bob');
        const a = await startAgent({ server, policy: { maxAttempts: 10, accountMaxFailures: 3 } });
        const b = await startAgent({ server });
        agents.push(a, b);
        await connected(a, true);
        await connected(b, true);

        expect((await login(a, 'ab-bob', wrongCode(totp))).code).toBe(1);
        expect((await login(a, 'ab-bob', wrongCode(totp))).code).toBe(1);
        await failuresAre('ab-bob', 2);
        // Durable on the server: kill -9 and restart.
        server.kill();
        await connected(a, false);
        // A failure while the server is down waits in A's outbox; A is killed -9 with it queued.
        expect((await login(a, 'ab-bob', wrongCode(totp))).code).toBe(1);
        expect((await agentStatus(a)).outbox).toBeGreaterThan(0);
        await a.kill('SIGKILL');
        await server.restart();
        expect((await account('ab-bob')).accountFailures).toBe(2);
        await a.restart();
        await connected(a, true);
        await waitFor(
          async () => (await agentStatus(a)).outbox === 0,
          'the outbox uploaded',
          LOADED_MS,
        );
        // The third failure locks (counted once, after both crashes).
        expect(await account('ab-bob')).toMatchObject({ accountFailures: 3 });
        expect((await account('ab-bob')).accountLockedAt).not.toBeNull();

        expect((await idvctl(server, ['user', 'unlock', 'ab-bob'])).code).toBe(0);
        await waitFor(
          async () => !(await agentStatus(a)).locked.includes('ab-bob'),
          'unlocked on A',
          LOADED_MS,
        );
        expect((await login(a, 'ab-bob', wrongCode(totp))).code).toBe(1);
        expect((await login(a, 'ab-bob', wrongCode(totp))).code).toBe(1);
        await failuresAre('ab-bob', 2);
        // A success on B resets the account's count: two more failures do not lock.
        expect((await login(b, 'ab-bob', codeFor(totp))).code).toBe(0);
        await failuresAre('ab-bob', 0);
        expect((await login(a, 'ab-bob', wrongCode(totp))).code).toBe(1);
        expect((await login(a, 'ab-bob', wrongCode(totp))).code).toBe(1);
        await failuresAre('ab-bob', 2);
        expect((await account('ab-bob')).accountLockedAt).toBeNull();
        expect((await login(a, 'ab-bob', codeFor(totp, Date.now() + 30_000))).code).toBe(0);
      });
    },
  );
});
