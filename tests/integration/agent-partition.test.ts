/**
 * A silent partition between agent and server: a relay that stops forwarding without closing
 * anything (tests/helpers/tcp-relay.ts). With the default settings (a ping every 10 s, 5 s for
 * an answer) `status` must stop saying `connected: yes` within 15 s and say since when the server
 * is silent; once the path heals the agent is back in sync and the mark is gone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  agentStatus,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { startTcpRelay, type TcpRelay } from '../helpers/tcp-relay.js';

let server: TestServer | undefined;
let agent: TestAgent | undefined;
let relay: TcpRelay | undefined;
afterEach(async () => {
  await agent?.stop();
  await relay?.close();
  server?.kill();
  agent = undefined;
  relay = undefined;
  server = undefined;
});

describe('a silent partition', () => {
  it('is noticed within ping + pong timeout (15 s), shown as stale, and heals', async () => {
    server = await startServer();
    relay = await startTcpRelay(server.url);
    agent = await startAgent({ server, servers: [relay.url] });
    await waitConnected(agent, true);

    const cut = Date.now();
    relay.partition();
    const stale = (await waitFor(
      async () => {
        const s = (await agentStatus(agent!)) as Record<string, unknown>;
        return !s.connected && typeof s.staleSince === 'string' ? s : null;
      },
      'connected: no with staleSince',
      30_000,
    )) as Record<string, unknown>;
    const noticedMs = Date.now() - cut;
    // 10 s between pings + 5 s for an answer; the margin is for timers that fire late on a loaded
    // machine (before the fix: 90 s).
    expect(noticedMs).toBeLessThan(25_000);
    const since = Date.parse(stale.staleSince as string);
    expect(since).toBeLessThanOrEqual(cut + 1000);
    expect(since).toBeGreaterThan(cut - 11_000);
    expect((await agent.cli(['status'])).stdout).toMatch(
      /^connected: {2}no \(stale since \S+: the server stopped answering pings\)$/m,
    );
    expect(agent.logs()).toMatch(/no answer to a ping/);

    relay.heal();
    const back = (await waitFor(
      async () => {
        const s = (await agentStatus(agent!)) as Record<string, unknown>;
        return s.connected ? s : null;
      },
      'back in sync after the heal',
      40_000,
    )) as Record<string, unknown>;
    expect(back.staleSince).toBeNull();
  }, 120_000);
});
