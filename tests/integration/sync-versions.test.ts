/**
 * Rolling upgrades: a real agent and a real server speaking different sync protocol ranges, with
 * a fake bump through the test seam IDV_TEST_SYNC_PROTOCOL (protocol/version.ts). Where the ranges
 * meet they speak the highest common version and sync; where they do not, the side that cannot
 * serve the other closes with 4406 and `idv-agent status` and the server log say which side to
 * upgrade. An agent from before ranges (no idv-protocol header) is served version 1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE } from '../../protocol/messages.js';
import { SYNC_PROTOCOL } from '../../protocol/version.js';
import { addEnrolledUser, startAgent, waitFor, type TestAgent } from '../helpers/agent.js';
import { registerDevice, SimAgent } from '../helpers/sim-agent.js';
import { V1 } from '../../protocol/compat.js';
import { startServer } from '../helpers/server.js';

const N = SYNC_PROTOCOL.max;
const range = (min: number, max: number) => ({ IDV_TEST_SYNC_PROTOCOL: `${min}-${max}` });

interface Status {
  connected: boolean;
  users: number;
  protocol?: number | null;
  syncError?: { code: string; message: string } | null;
}

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop();
});

async function world(serverEnv: NodeJS.ProcessEnv, agentEnv: NodeJS.ProcessEnv) {
  const server = await startServer({ env: serverEnv });
  started.push(server);
  await addEnrolledUser(server, `ver${Math.floor(Math.random() * 1e6)}`);
  const agent = await startAgent({ server, env: agentEnv });
  started.push(agent);
  return { server, agent };
}

async function status(agent: TestAgent): Promise<Status> {
  return (await agent.cli(['status', '--json'])).json as Status;
}

describe('sync protocol version ranges', () => {
  it(`an agent speaking ${N} syncs with a server speaking up to ${N + 1}, at ${N}`, async () => {
    const { agent } = await world(range(1, N + 1), {});
    const s = await waitFor(async () => {
      const st = await status(agent);
      return st.connected && st.users === 1 ? st : null;
    }, 'the agent in sync');
    expect(s.protocol).toBe(N);
    expect(s.syncError).toBeNull();
  });

  it(`an agent speaking up to ${N + 1} syncs with a server speaking ${N}, at ${N}`, async () => {
    const { agent } = await world({}, range(1, N + 1));
    const s = await waitFor(async () => {
      const st = await status(agent);
      return st.connected && st.users === 1 ? st : null;
    }, 'the agent in sync');
    expect(s.protocol).toBe(N);
  });

  it(`a server that dropped ${N} refuses the agent: status and the server log say upgrade the agent`, async () => {
    const { server, agent } = await world(range(N + 1, N + 1), {});
    const s = await waitFor(async () => {
      const st = await status(agent);
      return st.syncError?.code === 'PROTOCOL_VERSION' ? st : null;
    }, 'the refusal in status');
    expect(s.connected).toBe(false);
    expect(s.users).toBe(0);
    expect(s.syncError?.message).toContain(
      `idv-server speaks sync protocol ${N + 1}, the agent 1-${N}: upgrade the agent`,
    );
    expect(server.logs()).toContain('upgrade the agent');
    const plain = await agent.cli(['status']);
    expect(plain.stdout).toMatch(/sync error: .*upgrade the agent/);
  });

  it(`an agent that dropped ${N} is refused: status and the server log say upgrade the server`, async () => {
    const { server, agent } = await world({}, range(N + 1, N + 1));
    const s = await waitFor(async () => {
      const st = await status(agent);
      return st.syncError?.code === 'PROTOCOL_VERSION' ? st : null;
    }, 'the refusal in status');
    expect(s.connected).toBe(false);
    // The agent says its range in the upgrade request, so the server is the one that refuses.
    expect(s.syncError?.message).toContain(
      `idv-server speaks sync protocol 1-${N}, the agent ${N + 1}: upgrade idv-server`,
    );
    expect(server.logs()).toMatch(/refusing agent: [^\n]*upgrade idv-server/);
  });

  it('an agent from before ranges (no header) gets version 1 and no key it does not know', async () => {
    const server = await startServer({});
    started.push(server);
    const old = new SimAgent(server.url, await registerDevice(server));
    started.push({ stop: () => old.close() });
    // Read as raw JSON: this build's schemas are not version 1's.
    await old.connect({ protocol: null, validate: false });
    const challenge = old.messages.find((m) => m.type === 'challenge');
    expect(Object.keys(challenge as object).sort()).toEqual(['nonce', 'serverTime', 'type', 'v']);
    const snapshot = await old.next('snapshot');
    expect(Object.keys(snapshot).filter((k) => !V1.messages.snapshot.includes(k as never))).toEqual(
      [],
    );
    expect(Object.keys(snapshot.policy).filter((k) => !V1.policy.includes(k as never))).toEqual([]);

    // A newer agent is told the server's range in the challenge, and gets the whole policy.
    const fresh = new SimAgent(server.url, await registerDevice(server));
    started.push({ stop: () => fresh.close() });
    await fresh.connect({ protocol: `1-${N}` });
    expect(fresh.messages.find((m) => m.type === 'challenge')).toMatchObject({
      protocol: SYNC_PROTOCOL,
    });
    const full = await fresh.next('snapshot');
    expect(Object.keys(full.policy).length).toBeGreaterThan(V1.policy.length);
    expect(fresh.invalidFrames).toEqual([]);
  });

  it('a server that speaks only newer versions closes an agent from before ranges with 4406', async () => {
    const server = await startServer({ env: range(2, N + 1) });
    started.push(server);
    const old = new SimAgent(server.url, await registerDevice(server));
    started.push({ stop: () => old.close() });
    await old.connect({ protocol: null });
    const closed = await old.closed;
    expect(closed.code).toBe(CLOSE.PROTOCOL_VERSION);
    expect(closed.reason).toContain('upgrade the agent');
  });
});
