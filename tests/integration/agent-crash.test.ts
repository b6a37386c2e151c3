/**
 * kill -9 of the agent in the middle of work: during the apply of a large snapshot/delta and in a
 * verify loop. After each kill the database opens, passes integrity_check, holds a whole revision
 * (never half of one), and no acknowledged failure count is lost.
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

const N = 400;
let server: TestServer;
let alice: TotpParams;

async function api(path: string, method: string, body: unknown): Promise<void> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}

async function inspect(dataDir: string) {
  const db = await Database.open(join(dataDir, 'cache.db'));
  try {
    const integrity = (await db.get<{ integrity_check: string }>('PRAGMA integrity_check'))!
      .integrity_check;
    const meta = new Map(
      (await db.all<{ key: string; value: string }>('SELECT key, value FROM meta')).map((r) => [
        r.key,
        JSON.parse(r.value),
      ]),
    );
    const users = (await db.get<{ n: number }>(
      "SELECT count(*) AS n FROM users WHERE name LIKE 'bulk%'",
    ))!.n;
    const failures =
      (await db.get<{ failures: number }>("SELECT failures FROM counters WHERE name = 'alice'"))
        ?.failures ?? 0;
    return {
      integrity,
      revision: meta.get('revision') as number,
      userGroups: (meta.get('policy') as { userGroups: string[] }).userGroups,
      users,
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
    15_000,
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  server = await startServer();
  ({ totp: alice } = await addEnrolledUser(server, 'alice', ['staff']));
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

describe('kill -9 of the agent', () => {
  it('during the apply of large snapshots/deltas: never a half-applied revision', async () => {
    await api('/v1/policies/crash', 'PATCH', { userGroups: ['nobody'] });
    const agent = await startAgent({ server, deviceGroup: 'crash' });
    try {
      let wide = false;
      for (let i = 0; i < 25; i++) {
        await synced(agent);
        wide = !wide;
        await api('/v1/policies/crash', 'PATCH', { userGroups: wide ? ['staff'] : ['nobody'] });
        await sleep(Math.floor(Math.random() * 40));
        await agent.kill('SIGKILL');
        const s = await inspect(agent.dataDir);
        expect(s.integrity).toBe('ok');
        // Whole revisions only: the policy and the users it entitles were written together.
        expect(s.users).toBe(s.userGroups.includes('staff') ? N : 0);
        await agent.restart();
      }
      await synced(agent);
      const end = await inspect(agent.dataDir);
      expect(end.users).toBe(wide ? N : 0);
    } finally {
      await agent.stop();
    }
  }, 120_000);

  it('in a verify loop: no acknowledged failure is lost, the replay guard survives', async () => {
    const agent = await startAgent({ server, policy: { maxAttempts: 100, lockoutSeconds: 0 } });
    try {
      await synced(agent);
      const wrong = codeFor(alice) === '000000' ? '111111' : '000000';
      let acked = 0;
      for (let i = 0; i < 40; i++) {
        const attempt = askAgent(
          agent.socket,
          [begin('alice'), { type: 'verify', code: wrong }],
          5000,
        ).catch(() => null);
        await sleep(Math.floor(Math.random() * 15));
        await agent.kill('SIGKILL');
        const replies = await attempt;
        const s = await inspect(agent.dataDir);
        expect(s.integrity).toBe('ok');
        const r = replies?.[1];
        if (r?.type === 'invalid') acked = 100 - (r.attemptsLeft as number);
        // The count on disk holds every answered failure, plus at most the one in flight.
        expect(s.failures).toBeGreaterThanOrEqual(acked);
        expect(s.failures).toBeLessThanOrEqual(acked + 1);
        acked = s.failures;
        await agent.restart();
      }
      // The replay guard is durable too: a code accepted just before a kill stays used.
      const code = codeFor(alice);
      const [, ok] = await askAgent(agent.socket, [begin('alice'), { type: 'verify', code }]);
      expect(ok).toEqual({ type: 'ok' });
      await agent.kill('SIGKILL');
      await agent.restart();
      const [, again] = await askAgent(agent.socket, [begin('alice'), { type: 'verify', code }]);
      expect(again).toMatchObject({ type: 'invalid' });
    } finally {
      await agent.stop();
    }
  }, 120_000);
});
