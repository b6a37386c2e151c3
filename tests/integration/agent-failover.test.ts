/**
 * Reconnecting: a real agent and real servers stopped and started again.
 *
 * - After an outage, the agent's /healthz probes bring it back as soon as the server answers,
 *   long before its backoff would (the backoff is made huge, the probe short: no timing asserted).
 * - A graceful stop (SIGTERM) closes with 1012: the agent comes straight back, and it is not an
 *   outage (status `moves`, not `outages`; no "connection lost" in its log).
 * - With two servers in agent.json (two processes on one data directory, standing in for
 *   replicas until the PostgreSQL ones land), a server killed with kill -9 costs the agent one
 *   reconnect, to the other one, which then pushes it the next change.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  addEnrolledUser,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { startServer } from '../helpers/server.js';

interface Status {
  connected: boolean;
  server: string;
  servers?: string[];
  users: number;
  outages?: number;
  moves?: number;
  syncError?: { code: string; message: string } | null;
}

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop();
});

async function status(agent: TestAgent): Promise<Status> {
  return (await agent.cli(['status', '--json'])).json as Status;
}

/** Backoff far longer than any test waits; probes and restart delays short. */
const PATIENT = { backoffBaseMs: 60_000, backoffCapMs: 600_000, probeMs: 200, movedJitterMs: 200 };

describe('idv-agent reconnects', () => {
  it('after an outage, as soon as the server answers again (probe), not after its backoff', async () => {
    const server = await startServer();
    started.push(server);
    const agent = await startAgent({ server, agentConfig: PATIENT });
    started.push(agent);
    await waitConnected(agent, true);
    server.kill();
    await waitConnected(agent, false);
    const down = await status(agent);
    expect(down.syncError?.code).toBe('SERVER_UNREACHABLE');
    await server.restart();
    await waitFor(async () => (await status(agent)).connected, 'the agent back in sync', 30_000);
    expect(agent.logs()).toContain('server answers again: reconnecting now');
    const up = await status(agent);
    expect(up.outages).toBe(1);
    expect(up.syncError).toBeNull();
  });

  it('a graceful server restart (SIGTERM, 1012) is a move, not an outage', async () => {
    const server = await startServer();
    started.push(server);
    const agent = await startAgent({ server, agentConfig: PATIENT });
    started.push(agent);
    await waitConnected(agent, true);
    await server.restart();
    const s = await waitFor(
      async () => {
        const st = await status(agent);
        return st.connected && st.moves === 1 ? st : null;
      },
      'the agent back after the restart',
      30_000,
    );
    expect(s.outages).toBe(0);
    expect(s.syncError).toBeNull();
    expect(agent.logs()).toContain('the server is restarting: reconnecting');
    expect(agent.logs()).not.toContain('sync connection lost');
    // The server said 1012 to its agent.
    expect(server.logs()).toMatch(/"closeCode":1012/);
  });

  it('with two servers, a kill -9 costs one reconnect, to the other, which pushes the next change', async () => {
    const a = await startServer();
    started.push(a);
    const b = await startServer({ dataDir: a.dataDir });
    started.push(b);
    await addEnrolledUser(a, 'fo1');
    const agent = await startAgent({
      server: a,
      agentConfig: { ...PATIENT, servers: [a.url, b.url] },
    });
    started.push(agent);
    const first = await waitFor(async () => {
      const st = await status(agent);
      return st.connected && st.users === 1 ? st : null;
    }, 'the agent in sync with A');
    expect(first.server).toBe(a.url);
    expect(first.servers).toEqual([a.url, b.url]);
    const plain = await agent.cli(['status']);
    expect(plain.stdout).toContain(`${a.url} (1 of 2: ${a.url}, ${b.url})`);

    a.kill();
    await waitFor(async () => {
      const st = await status(agent);
      return st.connected && st.server === b.url;
    }, 'the agent on B');
    await addEnrolledUser(b, 'fo2');
    const s = await waitFor(async () => {
      const st = await status(agent);
      return st.users === 2 ? st : null;
    }, 'the change made on B');
    expect(s.outages).toBe(1);
    expect(agent.logs().match(/in sync with the server/g)).toHaveLength(2);
  });
});
