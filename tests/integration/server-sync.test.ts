/**
 * The agent channel against a real idv-server process, with real ws clients doing the Ed25519
 * handshake: registration, scoping, push, resume by revision, snapshots, revocation, events.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE, GRACE_ENDED, type LoginEvent } from '../../protocol/messages.js';
import { generateCode } from '../../protocol/totp.js';
import { IDVCTL_BIN, idvctl, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/agent.js';
import {
  FACTS,
  SimAgent,
  adminApi,
  createRegistrationToken,
  registerDevice,
} from '../helpers/sim-agent.js';

let server: TestServer;
const agents: SimAgent[] = [];

beforeAll(async () => {
  server = await startServer({
    config: { maxDeltaChanges: 8, helloTimeoutSeconds: 1, heartbeatSeconds: 1 },
  });
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});

async function agent(deviceGroup: string): Promise<SimAgent> {
  const id = await registerDevice(server, { deviceGroup });
  const a = new SimAgent(server.url, id);
  agents.push(a);
  return a;
}

async function enroll(name: string): Promise<string> {
  const e = (await idvctl(server, ['user', 'enroll', name, '--show-secret'])).json as {
    secret: string;
  };
  const code = generateCode(
    { secret: e.secret, algorithm: 'SHA1', digits: 6, period: 30 },
    Date.now(),
  );
  expect((await idvctl(server, ['user', 'confirm', name, code])).code).toBe(0);
  return e.secret;
}

describe('registration', () => {
  it('registers with a token, counts its uses, and refuses a used-up or unknown token', async () => {
    const token = await createRegistrationToken(server, { deviceGroup: 'reg', uses: 2 });
    const a = await registerDevice(server, { token });
    expect(a.deviceGroup).toBe('reg');
    await registerDevice(server, { token });
    await expect(registerDevice(server, { token })).rejects.toMatchObject({
      status: 401,
      body: { code: 'TOKEN_INVALID' },
    });
    await expect(registerDevice(server, { token: 'A'.repeat(43) })).rejects.toMatchObject({
      status: 401,
    });
    const devices = (await idvctl(server, ['device', 'list'])).json as {
      devices: { id: string; deviceGroup: string; facts: unknown }[];
    };
    expect(devices.devices.find((d) => d.id === a.deviceId)).toMatchObject({
      deviceGroup: 'reg',
      facts: FACTS,
    });
  });
});

describe('scoping and push', () => {
  it('sends a device only the users its policy entitles, and follows group changes', async () => {
    await idvctl(server, ['policy', 'set', '--device-group', 'eng-boxes', '--user-groups', 'eng']);
    await idvctl(server, ['user', 'add', 'alice', '--group', 'eng']);
    await idvctl(server, ['user', 'add', 'bob', '--group', 'ops']);
    const secret = await enroll('alice');
    await enroll('bob');
    const a = await agent('eng-boxes');
    await a.connect();
    const snap = await a.next('snapshot');
    expect(snap.users.map((u) => u.name)).toEqual(['alice']);
    expect(snap.users[0]?.totp?.secret).toBe(secret);
    expect(snap.policy.userGroups).toEqual(['eng']);

    // A user of another group: nothing for this device. A user of its group: one delta.
    await idvctl(server, ['user', 'add', 'olga', '--group', 'ops']);
    await idvctl(server, ['user', 'add', 'carl', '--group', 'eng']);
    const d1 = await a.next('delta');
    expect(d1.upsert.map((u) => u.name)).toEqual(['carl']);
    expect(d1.remove).toEqual([]);

    // bob moves into eng: he arrives, secret and all; alice moves out: she is removed.
    await idvctl(server, ['user', 'set-groups', 'bob', '--group', 'eng']);
    expect((await a.next('delta')).upsert.map((u) => u.name)).toEqual(['bob']);
    await idvctl(server, ['user', 'set-groups', 'alice', '--group', 'ops']);
    const d3 = await a.next('delta');
    expect(d3.remove).toEqual(['alice']);
    expect(d3.upsert).toEqual([]);
    expect([...a.users.keys()].sort()).toEqual(['bob', 'carl']);
    for (const m of a.messages) {
      if (m.type === 'snapshot') expect(m.users.every((u) => u.groups.includes('eng'))).toBe(true);
      if (m.type === 'delta') expect(m.upsert.every((u) => u.groups.includes('eng'))).toBe(true);
    }
    expect(JSON.stringify(a.messages)).not.toContain('olga');

    // Widening the policy changes the device's whole view: a snapshot.
    await idvctl(server, [
      'policy',
      'set',
      '--device-group',
      'eng-boxes',
      '--user-groups',
      'eng,ops',
    ]);
    const snap2 = await a.next('snapshot');
    expect(snap2.users.map((u) => u.name)).toEqual(
      expect.arrayContaining(['alice', 'bob', 'carl', 'olga']),
    );
    expect(a.invalidFrames).toEqual([]);
  });

  it('pushes one message per change to every connected agent of the group, and records acks', async () => {
    const [a, b, other] = [await agent('fleet'), await agent('fleet'), await agent('elsewhere')];
    for (const x of [a, b, other]) {
      await x.connect();
      await x.next('snapshot');
    }
    await idvctl(server, ['policy', 'set', '--device-group', 'fleet', '--max-attempts', '7']);
    for (const x of [a, b]) {
      const d = await x.next('delta');
      expect(d.policy?.maxAttempts).toBe(7);
      expect(d.upsert).toEqual([]);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(a.pending()).toEqual([]);
    expect(other.pending()).toEqual([]);
    const dev = (await idvctl(server, ['device', 'show', a.identity.deviceId])).json as {
      online: boolean;
      revision: number;
    };
    expect(dev.online).toBe(true);
    expect(dev.revision).toBe(a.revision);
    // Offline, the stored record (written in batches) still says how far it synced.
    await a.close();
    const stored = await waitFor(
      async () => {
        const shown = (await idvctl(server, ['device', 'show', a.identity.deviceId])).json as {
          online: boolean;
          revision: number;
          lastSeenAt: string | null;
        };
        // the activity writer stores the last acked revision in a batch of its own
        return shown.online || shown.revision !== a.revision ? null : shown;
      },
      'the server to see the device go offline, its last revision stored',
      60_000,
    );
    expect(stored).toMatchObject({ online: false, revision: a.revision });
    expect(Date.parse(stored.lastSeenAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
  });

  it('carries unlock (global and per device) and MFA reset to the agent', async () => {
    await idvctl(server, ['user', 'add', 'uma', '--group', 'u']);
    await enroll('uma');
    const [a, b] = [await agent('ugroup'), await agent('ugroup')];
    for (const x of [a, b]) {
      await x.connect();
      await x.next('snapshot');
    }
    await idvctl(server, ['user', 'unlock', 'uma', '--device', a.identity.deviceId]);
    const da = await a.next('delta');
    const db = await b.next('delta');
    expect(da.upsert[0]?.unlockedAt).toEqual(expect.any(Number));
    expect(db.upsert[0]?.unlockedAt).toBeNull();
    await idvctl(server, ['user', 'unlock', 'uma']);
    expect((await b.next('delta')).upsert[0]?.unlockedAt).toEqual(expect.any(Number));
    await a.next('delta');
    expect(a.users.get('uma')?.graceStartedAt).toBeGreaterThan(GRACE_ENDED);
    await idvctl(server, ['user', 'reset-mfa', 'uma']);
    const reset = (await a.next('delta')).upsert[0];
    expect(reset?.totp).toBeNull();
    // A reset ends the enrollment grace (no login without a code until the new app is set up).
    expect(reset?.graceStartedAt).toBe(GRACE_ENDED);
  });
});

describe('resume and snapshots', () => {
  it('resumes from its revision with a delta, and gets a snapshot when too far behind', async () => {
    const a = await agent('resume');
    await a.connect();
    await a.next('snapshot');
    await a.close();
    const at = a.revision;
    await idvctl(server, ['user', 'add', 'rita']);
    await a.connect();
    const d = await a.nextSync();
    expect(d.type).toBe('delta');
    expect(d).toMatchObject({ fromRevision: at });
    expect((d as { upsert: { name: string }[] }).upsert.map((u) => u.name)).toEqual(['rita']);
    await a.close();
    // An agent that has nothing new still gets an (empty) delta, so it knows it is current.
    await a.connect();
    expect(await a.nextSync()).toMatchObject({ type: 'delta', upsert: [], remove: [] });
    await a.close();
    for (let i = 0; i < 9; i++) await adminApi(server, 'POST', '/v1/users', { name: `far${i}` });
    await a.connect();
    expect((await a.nextSync()).type).toBe('snapshot');
    // A revision the server never issued: snapshot.
    await a.close();
    await a.connect({ revision: 10_000_000 });
    expect((await a.nextSync()).type).toBe('snapshot');
  });
});

describe('connection rules', () => {
  it('closes a revoked device at once and refuses it after', async () => {
    const a = await agent('rev');
    await a.connect();
    await a.next('snapshot');
    expect((await idvctl(server, ['device', 'revoke', a.identity.deviceId])).code).toBe(0);
    expect((await a.closed).code).toBe(CLOSE.REVOKED);
    // An agent of sync protocol 1-2 is closed at once.
    await a.connect({ protocol: '1-2' });
    expect((await a.closed).code).toBe(CLOSE.REVOKED);
    // On 3 it is told `revoked` (its outbox may go up one last time: revoked-upload.test.ts),
    // and an ack, as anything but events, is out of order: nothing else is served to it.
    await a.connect();
    await a.next('revoked');
    a.send({ type: 'ack', revision: 1 });
    expect((await a.closed).code).toBe(CLOSE.OUT_OF_ORDER);
    expect(a.messages.filter((m) => m.type === 'snapshot' || m.type === 'delta')).toHaveLength(1);
  });

  it('refuses a bad signature, an unknown device and a missing hello, with distinct codes', async () => {
    const a = await agent('sig');
    await a.connect({ signWith: generateKeyPairSync('ed25519').privateKey });
    expect((await a.closed).code).toBe(CLOSE.UNAUTHORIZED);
    const ghost = new SimAgent(server.url, { ...a.identity, deviceId: randomUUID() });
    agents.push(ghost);
    await ghost.connect();
    expect((await ghost.closed).code).toBe(CLOSE.UNAUTHORIZED);
    await a.connect({ noHello: true });
    expect((await a.closed).code).toBe(CLOSE.TIMEOUT);
    expect(a.messages.every((m) => m.type === 'challenge')).toBe(true);
  });

  it('closes only the offending connection on malformed, out-of-order or foreign-version frames', async () => {
    const good = await agent('frames');
    await good.connect();
    await good.next('snapshot');
    const cases: [(x: SimAgent) => void, number][] = [
      [(x) => x.sendRaw('{not json'), CLOSE.MALFORMED],
      [(x) => x.sendRaw(Buffer.from([1, 2, 3]), true), CLOSE.MALFORMED],
      [(x) => x.send({ type: 'ack', revision: 1 }), CLOSE.OUT_OF_ORDER],
      [
        (x) =>
          x.send({
            type: 'hello',
            v: 99,
            deviceId: randomUUID(),
            signature: 'A'.repeat(86),
            revision: 0,
            agentVersion: 'x',
          }),
        CLOSE.PROTOCOL_VERSION,
      ],
      [(x) => x.send({ type: 'teleport' }), CLOSE.MALFORMED],
      [(x) => x.sendRaw('x'.repeat(2 * 1024 * 1024)), 1009],
    ];
    for (const [act, code] of cases) {
      const bad = await agent('frames');
      await bad.connect({ noHello: true });
      act(bad);
      expect((await bad.closed).code).toBe(code);
    }
    // A second hello after sync is out of order; an ack of an unsent revision too.
    good.send({ type: 'ack', revision: good.revision + 5 });
    expect((await good.closed).code).toBe(CLOSE.OUT_OF_ORDER);
    const fine = await agent('frames');
    await fine.connect();
    await fine.next('snapshot');
    expect(fine.ws?.readyState).toBe(1);
  });

  it('replaces an older connection of the same device', async () => {
    const a = await agent('dup');
    await a.connect();
    await a.next('snapshot');
    const twin = new SimAgent(server.url, a.identity);
    agents.push(twin);
    await twin.connect();
    await twin.next('snapshot');
    expect((await a.closed).code).toBe(CLOSE.REPLACED);
    await idvctl(server, ['policy', 'set', '--device-group', 'dup', '--prompts', '2']);
    expect((await twin.next('delta')).policy?.prompts).toBe(2);
  });
});

describe('heartbeat and metrics', () => {
  it('drops a peer that stops answering pings', async () => {
    const a = await agent('hb');
    await a.connect();
    await a.nextSync();
    const online = async () =>
      ((await idvctl(server, ['device', 'show', a.identity.deviceId])).json as { online: boolean })
        .online;
    expect(await online()).toBe(true);
    // Stop reading the socket: pings go unanswered, like a machine that vanished.
    (a.ws as unknown as { _socket: Socket })._socket.pause();
    const deadline = Date.now() + 10_000;
    while ((await online()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await online()).toBe(false);
    a.ws?.terminate();
  });

  it('counts connected agents, pushes, acks and events in /metrics', async () => {
    const a = await agent('metrics');
    await a.connect();
    await a.nextSync();
    await idvctl(server, ['policy', 'set', '--device-group', 'metrics', '--window', '0']);
    await a.next('delta');
    a.sendEvents([
      { id: randomUUID(), at: Date.now(), user: 'mia', service: 'su', outcome: 'deny' },
    ]);
    await a.next('eventsAck');
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    expect(value(/^idv_agents_connected (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^idv_pushes_total\{kind="delta"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^idv_push_ack_seconds_count (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^idv_events_total\{outcome="deny"\} (\d+)/m)).toBe(1);
  });
});

describe('events', () => {
  const event = (user: string, outcome: LoginEvent['outcome'] = 'ok'): LoginEvent => ({
    id: randomUUID(),
    at: Date.now(),
    user,
    service: 'sudo',
    outcome,
    tty: '/dev/pts/1',
  });

  it('stores a batch once even when it is sent twice, and acks both times', async () => {
    const a = await agent('ev');
    await a.connect();
    await a.next('snapshot');
    const batch = [event('evan'), event('evan', 'invalid')];
    a.sendEvents(batch);
    expect((await a.next('eventsAck')).ids).toEqual(batch.map((e) => e.id));
    a.sendEvents(batch);
    expect((await a.next('eventsAck')).ids).toEqual(batch.map((e) => e.id));
    const r = (await idvctl(server, ['events', '--user', 'evan'])).json as {
      events: { id: string; device: string; outcome: string }[];
    };
    expect(r.events.map((e) => e.id)).toEqual(batch.map((e) => e.id));
    expect(r.events[0]?.device).toBe(a.identity.deviceId);
    const byDevice = (await idvctl(server, ['events', '--device', a.identity.deviceId])).json as {
      events: unknown[];
    };
    expect(byDevice.events).toHaveLength(2);
    const future = (
      await idvctl(server, ['events', '--user', 'evan', '--since', String(Date.now() + 60_000)])
    ).json as { events: unknown[] };
    expect(future.events).toHaveLength(0);
  });

  it('streams new events to idvctl events --follow', async () => {
    const a = await agent('ev');
    await a.connect();
    await a.next('snapshot');
    const child = spawn(IDVCTL_BIN, [
      '--server',
      server.url,
      '--token',
      server.adminToken,
      '--json',
      'events',
      '--user',
      'fay',
      '--follow',
    ]);
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      // A first event, printed once the child follows (from the backlog or live, whichever its
      // start under load makes it): the ones after it can only come live.
      const first = event('fay', 'ok');
      a.sendEvents([first]);
      await waitFor(() => out.includes(first.id), 'the follower to print the first event', 60_000);
      const e = event('fay', 'locked');
      a.sendEvents([event('someone-else'), e]);
      await waitFor(() => out.includes(e.id), 'the live event', 60_000);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: string; user: string; outcome: string });
      expect(lines).toEqual([
        expect.objectContaining({ id: first.id, user: 'fay', outcome: 'ok' }),
        expect.objectContaining({ id: e.id, user: 'fay', outcome: 'locked' }),
      ]);
    } finally {
      child.kill();
    }
  });
});

describe('shutdown', () => {
  it('tells connected agents it is restarting (1012: come back now) and restarts on the same data', async () => {
    const a = await agent('bye');
    await a.connect();
    await a.next('snapshot');
    await server.restart();
    expect((await a.closed).code).toBe(CLOSE.RESTARTING);
    const b = new SimAgent(server.url, a.identity);
    agents.push(b);
    b.revision = a.revision;
    await b.connect();
    expect((await b.nextSync()).type).toBe('delta');
  });
});
