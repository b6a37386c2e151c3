/**
 * A real agent failing over between two real replicas on one real PostgreSQL: registered with
 * `register --server A --server B`, logging users in through the real helper all along.
 *
 * - kill -9 of A: the agent moves to B (one outage), a login made during the move reaches the
 *   store (visible from B), a change made on B reaches the agent.
 * - A back, B stopped with SIGTERM: B says 1012, the agent moves back to A (a move, not an
 *   outage), and B's log has no write to a store it already closed.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TotpParams } from '../../protocol/messages.js';
import { generateCode } from '../../protocol/totp.js';
import { addEnrolledUser, startAgent, waitFor, type TestAgent } from '../helpers/agent.js';
import { POSTGRES_MISSING, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startReplicas, until } from '../helpers/replicas.js';
import { idvctl, type TestServer } from '../helpers/server.js';
import { adminApi, registerDevice, SimAgent } from '../helpers/sim-agent.js';
import { pamEnv, runHelper } from './helper-world.js';

let cluster: PgCluster | null = null;
beforeAll(async () => {
  cluster = await startPostgres();
}, 120_000);
afterAll(() => cluster?.remove());

interface Status {
  connected: boolean;
  server: string;
  servers?: string[];
  users: number;
  outbox: number;
  outages?: number;
  moves?: number;
  syncError?: { code: string; message: string } | null;
}
const status = async (agent: TestAgent) => (await agent.cli(['status', '--json'])).json as Status;

/**
 * Logins through the real helper. The agent takes each code of a user once and only a newer
 * step after it (replay guard), so each login uses the next step still in the window (±1).
 */
function logins(agent: TestAgent) {
  const last = new Map<string, number>();
  return async (user: string, totp: TotpParams): Promise<number | null> => {
    for (;;) {
      const now = Math.floor(Date.now() / 1000 / totp.period);
      const step = Math.max((last.get(user) ?? -Infinity) + 1, now - 1);
      if (step <= now + 1) {
        last.set(user, step);
        const code = generateCode(totp, step * totp.period * 1000);
        const r = await runHelper(['--socket', agent.socket, '--authtok'], pamEnv(user), code);
        return r.code;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
}

/** The `ok` logins of `user` the store holds, read through `server`. */
async function okLogins(server: TestServer, user: string): Promise<number> {
  const r = await idvctl(server, ['events', '--user', user, '--limit', '1000']);
  if (r.code !== 0) throw new Error(`events failed: ${r.stderr}`);
  return (r.json as { events: { outcome: string }[] }).events.filter((e) => e.outcome === 'ok')
    .length;
}

describe.skipIf(POSTGRES_MISSING !== null)('an agent failing over between replicas', () => {
  it('kill -9 of A: to B with every event and B’s changes; SIGTERM of B: back to A as a move', async () => {
    const {
      servers: [a, b],
    } = await startReplicas(cluster as PgCluster, 2);
    if (!a || !b) throw new Error('no replicas');
    const alice = (await addEnrolledUser(a, 'alice')).totp;
    const agent = await startAgent({
      server: a,
      servers: [a.url, b.url],
      agentConfig: { probeMs: 200, movedJitterMs: 200 },
    });
    try {
      const login = logins(agent);
      // register kept both servers, in order.
      const file = JSON.parse(readFileSync(join(agent.dataDir, 'agent.json'), 'utf8')) as {
        server: string;
        servers: string[];
      };
      expect(file.servers).toEqual([a.url, b.url]);
      const first = await waitFor(async () => {
        const s = await status(agent);
        return s.connected && s.users === 1 ? s : null;
      }, 'the agent in sync with A');
      expect(first.server).toBe(a.url);
      expect(first.servers).toEqual([a.url, b.url]);
      expect(await login('alice', alice)).toBe(0);
      await until('the first login stored', async () => (await okLogins(b, 'alice')) === 1);

      a.kill();
      // During the move: the helper still logs alice in (from the cache), and the event is kept.
      expect(await login('alice', alice)).toBe(0);
      const onB = await waitFor(
        async () => {
          const s = await status(agent);
          return s.connected && s.server === b.url ? s : null;
        },
        'the agent on B',
        30_000,
      );
      expect(onB.outages).toBe(1);
      expect(onB.moves).toBe(0);
      await until('the login made during the move, read through B', async () => {
        return (await okLogins(b, 'alice')) === 2;
      });
      await until('the outbox empty', async () => (await status(agent)).outbox === 0);

      // A change made on B reaches the agent: bob logs in through the helper.
      const bob = (await addEnrolledUser(b, 'bob')).totp;
      await until('bob on the agent', async () => (await status(agent)).users === 2);
      expect(await login('bob', bob)).toBe(0);

      // A back; B stopped on purpose: B says 1012 and the agent moves back without an outage.
      await a.restart();
      expect(a.url).toBe(first.server);
      await b.stop();
      expect(b.logs()).toMatch(/"closeCode":1012/);
      const back = await waitFor(
        async () => {
          const s = await status(agent);
          return s.connected && s.server === a.url && s.moves === 1 ? s : null;
        },
        'the agent back on A',
        30_000,
      );
      expect(back.outages).toBe(1);
      expect(back.syncError).toBeNull();
      expect(agent.logs()).toContain('the server is restarting: reconnecting');
      expect(await login('alice', alice)).toBe(0);
      await until('every login stored, read through A', async () => {
        return (await okLogins(a, 'alice')) === 3 && (await okLogins(a, 'bob')) === 1;
      });
      // The stopped replica wrote nothing after its store closed (the activity writer included).
      expect(b.logs()).not.toMatch(/Cannot use a pool after calling end|failed \(.*pool/);
      expect(b.logs()).not.toContain('recording device activity failed');
    } finally {
      await agent.stop();
    }
  }, 180_000);

  it('a replica stopped with SIGTERM while an activity write waits writes nothing to its closed store', async () => {
    const pgc = cluster as PgCluster;
    const {
      servers: [a, b],
      url,
    } = await startReplicas(pgc, 2);
    if (!a || !b) throw new Error('no replicas');
    const database = new URL(url).pathname.slice(1);
    const agent = new SimAgent(b.url, await registerDevice(a));
    await agent.connect();
    await agent.nextSync(30_000);
    const waiting = async () =>
      Number(
        (
          await pgc.query(
            database,
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        ).rows[0].n,
      );
    // Another transaction holds the agent's device row (as a slow batch on a busy database
    // would): B's next activity write (the ack below, the close) waits for it.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('UPDATE devices SET last_seen_at = last_seen_at + 1 WHERE id = $1', [
        agent.identity.deviceId,
      ]);
      await adminApi(a, 'POST', '/v1/users', { name: 'held' });
      await until('the ack', () => agent.users.has('held'));
      await agent.close();
      await until('B’s activity write waiting', async () => (await waiting()) > 0);
      const stopping = b.stop();
      // Long enough for the stop to reach the store's close (no agent, no request to wait for).
      await new Promise((r) => setTimeout(r, 1500));
      // The holder commits: B's write conflicts and is tried again, by then on a closed store
      // unless the stop waited for it.
      await holder.query('COMMIT');
      await stopping;
    } finally {
      await holder.end();
    }
    expect(b.logs()).toContain('"stopped"');
    expect(b.logs()).not.toContain('recording device activity failed');
    expect(b.logs()).not.toContain('Cannot use a pool after calling end');
  }, 120_000);
});
