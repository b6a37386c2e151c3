/**
 * kill -9 of the agent at the dangerous moment: between BEGIN and COMMIT of a snapshot, of a delta
 * and of a verify's write. The agent's test failpoint (agent/store/failpoint.ts) pauses it there
 * and says so on stderr; the test kills it only once that line appeared, so every kill is proven
 * to land mid-transaction. After each kill the database opens, passes integrity_check, and holds
 * the previous state whole (revision and data unchanged); no answered failure is lost and the
 * failure killed mid-commit was never answered (the helper refused).
 *
 * IDV_CRASH_KILLS sets the kills per kind (default 20; the full 100 is run on demand).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  addEnrolledUser,
  askAgent,
  begin,
  codeFor,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { Database } from '../../protocol/io/sqlite.js';
import type { TotpParams } from '../../protocol/messages.js';
import { ARM_VALUE, type FailpointName } from '../../agent/store/failpoint.js';
import { pamEnv, runHelper } from './helper-world.js';

const KILLS = Number(process.env.IDV_CRASH_KILLS ?? 20);
const N = 200;
const VERIFY_USERS = 4;
let server: TestServer;
const totps = new Map<string, TotpParams>();

async function api(path: string, method: string, body: unknown = {}): Promise<void> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}

interface CacheView {
  integrity: string;
  revision: number;
  policy: { userGroups: string[]; lockoutSeconds: number };
  bulk: number;
  suspended: number;
  failures: Map<string, number>;
}

async function inspect(dataDir: string): Promise<CacheView> {
  const db = await Database.open(join(dataDir, 'cache.db'));
  try {
    const integrity = (await db.get<{ integrity_check: string }>('PRAGMA integrity_check'))!
      .integrity_check;
    const meta = new Map(
      (await db.all<{ key: string; value: string }>('SELECT key, value FROM meta')).map((r) => [
        r.key,
        JSON.parse(r.value) as unknown,
      ]),
    );
    const count = async (where: string) =>
      (await db.get<{ n: number }>(`SELECT count(*) AS n FROM users WHERE ${where}`))!.n;
    const failures = new Map(
      (await db.all<{ name: string; failures: number }>('SELECT name, failures FROM counters')).map(
        (r) => [r.name, r.failures],
      ),
    );
    return {
      integrity,
      revision: meta.get('revision') as number,
      policy: meta.get('policy') as CacheView['policy'],
      bulk: await count("name LIKE 'bulk%'"),
      suspended: await count("status = 'suspended'"),
      failures,
    };
  } finally {
    await db.close();
  }
}

const statusReq = { type: 'status', v: 1 };
const synced = (a: TestAgent) =>
  waitFor(
    async () => (await askAgent(a.socket, [statusReq]))[0]?.connected === true,
    'agent in sync',
    30_000,
  );

/** Restarts the agent armed at `point` (the `nth` time it is reached in this run). */
function armed(point: FailpointName, nth = 1): NodeJS.ProcessEnv {
  return {
    IDV_TEST_FAILPOINT: nth === 1 ? point : `${point}:${nth}`,
    IDV_TEST_SEAMS: ARM_VALUE,
  };
}

/** Waits until the agent has reached the failpoint `times` times over its life, then kills -9. */
async function killAtFailpoint(agent: TestAgent, point: FailpointName, times: number) {
  const line = `idv-failpoint ${point} reached`;
  await waitFor(
    () => agent.logs().split(line).length - 1 >= times,
    `failpoint ${point} (#${times})`,
    30_000,
  );
  await agent.kill('SIGKILL');
}

beforeAll(async () => {
  server = await startServer();
  for (let i = 0; i < VERIFY_USERS; i++) {
    const name = `crash-v${i}`;
    totps.set(name, (await addEnrolledUser(server, name, ['verify'])).totp);
  }
  for (let i = 0; i < N; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, N - i) }, (_, k) =>
        api('/v1/users', 'POST', { name: `bulk${i + k}`, groups: ['staff'] }),
      ),
    );
  }
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('kill -9 of the agent between BEGIN and COMMIT', () => {
  it(`of a snapshot, ${KILLS} times: the previous revision stays whole`, async () => {
    await api('/v1/policies/crash-snap', 'PATCH', { userGroups: ['nobody'] });
    const agent = await startAgent({ server, deviceGroup: 'crash-snap' });
    try {
      await synced(agent);
      await agent.kill('SIGTERM');
      const before = await inspect(agent.dataDir);
      expect(before.bulk).toBe(0);
      // The device's scope changes: the server answers the next hello with a snapshot of N users.
      await api('/v1/policies/crash-snap', 'PATCH', { userGroups: ['staff'] });
      for (let i = 1; i <= KILLS; i++) {
        await agent.restart(armed('snapshot'));
        await killAtFailpoint(agent, 'snapshot', i);
        const s = await inspect(agent.dataDir);
        expect(s.integrity).toBe('ok');
        expect(s.revision).toBe(before.revision);
        expect(s.policy.userGroups).toEqual(['nobody']);
        expect(s.bulk).toBe(0);
      }
      await agent.restart();
      await synced(agent);
      const after = await inspect(agent.dataDir);
      expect(after.revision).toBeGreaterThan(before.revision);
      expect(after.bulk).toBe(N);
    } finally {
      await agent.stop();
    }
  }, 600_000);

  it(`of a delta, ${KILLS} times: the previous revision stays whole`, async () => {
    await api('/v1/policies/crash-delta', 'PATCH', { userGroups: ['staff'], lockoutSeconds: 900 });
    const agent = await startAgent({ server, deviceGroup: 'crash-delta' });
    try {
      await synced(agent);
      await agent.kill('SIGTERM');
      const before = await inspect(agent.dataDir);
      expect(before.bulk).toBe(N);
      for (let i = 1; i <= KILLS; i++) {
        // One more change each time: the delta the agent gets at its hello grows (policy + users).
        await api(`/v1/users/bulk${i}/suspend`, 'POST');
        await api('/v1/policies/crash-delta', 'PATCH', { lockoutSeconds: 900 + i });
        await agent.restart(armed('delta'));
        await killAtFailpoint(agent, 'delta', i);
        const s = await inspect(agent.dataDir);
        expect(s.integrity).toBe('ok');
        expect(s.revision).toBe(before.revision);
        expect(s.policy.lockoutSeconds).toBe(900);
        expect(s.suspended).toBe(0);
        expect(s.bulk).toBe(N);
      }
      await agent.restart();
      await synced(agent);
      const after = await inspect(agent.dataDir);
      expect(after.policy.lockoutSeconds).toBe(900 + KILLS);
      expect(after.suspended).toBe(KILLS);
    } finally {
      for (let i = 1; i <= KILLS; i++) await api(`/v1/users/bulk${i}/resume`, 'POST');
      await agent.stop();
    }
  }, 600_000);

  it(`of a verify, ${KILLS} times: every answered failure stays counted, the killed one was refused`, async () => {
    await api('/v1/policies/crash-verify', 'PATCH', {
      userGroups: ['verify'],
      maxAttempts: 100,
      lockoutSeconds: 0,
    });
    const agent = await startAgent({ server, deviceGroup: 'crash-verify' });
    const counted = new Map<string, number>();
    try {
      await synced(agent);
      for (let i = 1; i <= KILLS; i++) {
        const name = `crash-v${i % VERIFY_USERS}`;
        const totp = totps.get(name)!;
        const wrong = codeFor(totp) === '000000' ? '111111' : '000000';
        const prev = counted.get(name) ?? 0;
        // The first verify of this run commits; the second pauses before its COMMIT.
        await agent.restart(armed('verify', 2));
        const [, answered] = await askAgent(agent.socket, [
          begin(name),
          { type: 'verify', code: wrong },
        ]);
        expect(answered).toMatchObject({ type: 'invalid', attemptsLeft: 100 - (prev + 1) });
        const helper = runHelper(['--socket', agent.socket, '--authtok'], pamEnv(name), wrong);
        await killAtFailpoint(agent, 'verify', i);
        const refused = await helper;
        expect(refused.code).toBe(1);
        const s = await inspect(agent.dataDir);
        expect(s.integrity).toBe('ok');
        // Counted exactly: the answered failure is on disk, the unanswered one is not.
        expect(s.failures.get(name)).toBe(prev + 1);
        counted.set(name, prev + 1);
      }
      // The replay guard is durable too: a code accepted just before a kill stays used.
      await agent.restart();
      const name = 'crash-v0';
      const code = codeFor(totps.get(name)!);
      const [, ok] = await askAgent(agent.socket, [begin(name), { type: 'verify', code }]);
      expect(ok).toEqual({ type: 'ok' });
      await agent.kill('SIGKILL');
      await agent.restart();
      const [, again] = await askAgent(agent.socket, [begin(name), { type: 'verify', code }]);
      expect(again).toMatchObject({ type: 'invalid' });
    } finally {
      await agent.stop();
    }
  }, 600_000);
});
