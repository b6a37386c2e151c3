/**
 * The first messages agents connecting at once share (server/sync/push.ts): one snapshot per
 * device group, one delta per (device group, revision the agent has), rendered once and dropped
 * at every change. Real server process, real Ed25519 handshakes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { SimAgent, registerDevice } from '../helpers/sim-agent.js';

let server: TestServer;
const agents: SimAgent[] = [];

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});

async function agent(deviceGroup: string): Promise<SimAgent> {
  const a = new SimAgent(server.url, await registerDevice(server, { deviceGroup }));
  agents.push(a);
  return a;
}

/** Connects every agent at once (as after a restart) and returns each one's first sync. */
async function connectAtOnce(list: SimAgent[], revision?: number) {
  return Promise.all(
    list.map(async (a) => {
      await a.connect(revision === undefined ? {} : { revision });
      return a.nextSync();
    }),
  );
}

const names = (m: { type: string; users?: { name: string }[]; upsert?: { name: string }[] }) =>
  (m.type === 'snapshot' ? (m.users ?? []) : (m.upsert ?? [])).map((u) => u.name).sort();

describe('first messages shared by agents connecting at once', () => {
  it('are per device group: two groups never share a view', async () => {
    await idvctl(server, ['policy', 'set', '--device-group', 'lab-a', '--user-groups', 'a']);
    await idvctl(server, ['policy', 'set', '--device-group', 'lab-b', '--user-groups', 'b']);
    await idvctl(server, ['user', 'add', 'ann', '--group', 'a']);
    await idvctl(server, ['user', 'add', 'ben', '--group', 'b']);
    const inA = [await agent('lab-a'), await agent('lab-a'), await agent('lab-a')];
    const inB = [await agent('lab-b'), await agent('lab-b'), await agent('lab-b')];
    const firsts = await connectAtOnce([...inA, ...inB]);
    firsts.forEach((m, i) => {
      expect(m.type).toBe('snapshot');
      const group = i < 3 ? 'lab-a' : 'lab-b';
      expect(m).toMatchObject({ deviceGroup: group, policy: { userGroups: [i < 3 ? 'a' : 'b'] } });
      expect(names(m)).toEqual([i < 3 ? 'ann' : 'ben']);
    });
    // Back at once with what they have: an empty delta each, still nothing of the other group.
    await Promise.all([...inA, ...inB].map((a) => a.close()));
    const again = await connectAtOnce([...inA, ...inB]);
    for (const m of again) expect(m).toMatchObject({ type: 'delta', upsert: [], remove: [] });
    expect(JSON.stringify(inA.map((a) => a.messages))).not.toContain('ben');
    expect(JSON.stringify(inB.map((a) => a.messages))).not.toContain('ann');
    for (const a of [...inA, ...inB]) expect(a.invalidFrames).toEqual([]);
    // Every connection was challenged with a nonce of its own (32 random bytes, pooled).
    const nonces = [...inA, ...inB].flatMap((a) =>
      a.messages.flatMap((m) => (m.type === 'challenge' ? [m.nonce] : [])),
    );
    expect(nonces).toHaveLength(12);
    expect(new Set(nonces).size).toBe(12);
    for (const n of nonces) expect(Buffer.from(n, 'base64url')).toHaveLength(32);
  });

  it('are dropped at a change: the next agent to connect gets it in its first message', async () => {
    await idvctl(server, ['policy', 'set', '--device-group', 'lab-c', '--user-groups', 'c']);
    await idvctl(server, ['user', 'add', 'cleo', '--group', 'c']);
    const [x, y] = [await agent('lab-c'), await agent('lab-c')];
    const [sx, sy] = await connectAtOnce([x, y]);
    expect(sx?.revision).toBe(sy?.revision);
    const at = x.revision;
    await Promise.all([x.close(), y.close()]);
    // x fills the shared delta from `at` (empty) and the group's snapshot is cached from above.
    await x.connect();
    expect(await x.nextSync()).toMatchObject({ type: 'delta', fromRevision: at, upsert: [] });
    await x.close();

    await idvctl(server, ['user', 'add', 'carl', '--group', 'c']);
    // y has the same revision as x had: its first message is a new delta, not the cached one.
    await y.connect();
    const dy = await y.nextSync();
    expect(dy).toMatchObject({ type: 'delta', fromRevision: at });
    expect(names(dy)).toEqual(['carl']);
    // A new device gets a snapshot with the change, not the one cached before it.
    const z = await agent('lab-c');
    await z.connect();
    const sz = await z.nextSync();
    expect(sz.type).toBe('snapshot');
    expect(names(sz)).toEqual(['carl', 'cleo']);
    expect(sz.revision).toBeGreaterThan(at);
    // And nothing else follows: the first message was already current.
    await new Promise((r) => setTimeout(r, 300));
    expect(y.pending()).toEqual([]);
    expect(z.pending()).toEqual([]);
  });
});
