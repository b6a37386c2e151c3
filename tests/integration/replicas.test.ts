/**
 * Replicas on one real PostgreSQL (a cluster of our own, tests/helpers/postgres.ts): real
 * `idv-server serve --database` processes, agents speaking the real protocol to different ones.
 * A change, an enrollment, an unlock and a revocation made through replica A reach an agent on
 * replica B; `events --follow` on B shows a login reported to A; portal guesses spread over the
 * replicas lock the name at the policy's count, a portal session made on A works on B; a
 * replica killed with -9 and started again loses no event and misses no change; so does one
 * whose database went away and came back.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../../protocol/messages.js';
import { POSTGRES_MISSING, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startReplicas, until } from '../helpers/replicas.js';
import { idvctl, type TestServer } from '../helpers/server.js';
import { SimAgent, registerDevice, type Identity } from '../helpers/sim-agent.js';
import { Client, csrfOf, totp } from './portal-client.js';

let cluster: PgCluster | null = null;

beforeAll(async () => {
  cluster = await startPostgres();
}, 120_000);
afterAll(() => {
  cluster?.remove();
});

const replicas = (count: number) => startReplicas(cluster as PgCluster, count);

async function agentOn(server: TestServer, identity: Identity): Promise<SimAgent> {
  const a = new SimAgent(server.url, identity);
  await a.connect();
  await a.nextSync(30_000);
  return a;
}

describe.skipIf(POSTGRES_MISSING !== null)('replicas on one PostgreSQL', () => {
  it('a change, an enrollment, an unlock, a revocation made on A reach an agent on B; events on A follow on B', async () => {
    const {
      servers: [a, b],
    } = await replicas(2);
    if (!a || !b) throw new Error('no replicas');
    const onB = await agentOn(b, await registerDevice(a));
    const onA = await agentOn(a, await registerDevice(b));

    expect((await idvctl(a, ['user', 'add', 'alice'])).code).toBe(0);
    await until('alice on the agent of B', () => onB.users.has('alice'));

    const enroll = await idvctl(a, ['user', 'enroll', 'alice', '--show-secret']);
    const secret = (enroll.json as { secret: string }).secret;
    expect((await idvctl(a, ['user', 'confirm', 'alice', totp(secret)])).code).toBe(0);
    await until('the activated secret on B', () => onB.users.get('alice')?.totp?.secret === secret);

    const unlockedBefore = onB.users.get('alice')?.unlockedAt ?? null;
    expect((await idvctl(a, ['user', 'unlock', 'alice'])).code).toBe(0);
    await until(
      'the unlock on B',
      () => (onB.users.get('alice')?.unlockedAt ?? null) !== unlockedBefore,
    );

    // events --follow on B; a login reported to A shows there.
    const follow = await fetch(`${b.url}/v1/events/stream?user=alice`, {
      headers: { authorization: `Bearer ${b.adminToken}` },
    });
    const reader = (follow.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    const id = randomUUID();
    onA.sendEvents([{ id, at: Date.now(), user: 'alice', service: 'sshd', outcome: 'ok' }]);
    const deadline = Date.now() + 30_000;
    while (!seen.includes(id) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    await reader.cancel();
    expect(seen).toContain(id);

    // Revoked through A: B closes its agent with REVOKED at once.
    const revoke = await idvctl(a, ['device', 'revoke', onB.identity.deviceId]);
    expect(revoke.code).toBe(0);
    expect((await onB.closed).code).toBe(CLOSE.REVOKED);
    await onA.close();
  }, 120_000);

  it('portal: guesses spread over replicas lock the name at the policy count; a session from A works on B', async () => {
    const {
      servers: [a, b],
    } = await replicas(2);
    if (!a || !b) throw new Error('no replicas');
    await idvctl(a, ['user', 'add', 'bob']);
    const secret = (
      (await idvctl(a, ['user', 'enroll', 'bob', '--show-secret'])).json as { secret: string }
    ).secret;
    await idvctl(a, ['user', 'confirm', 'bob', totp(secret)]);
    // A code accepted on A is refused on B (one replay guard for all).
    const signIn = async (s: TestServer, c: Client, code: string) => {
      const form = await (await c.get('/portal/signin')).text();
      return (await c.post('/portal/signin', { csrf: csrfOf(form), user: 'bob', code })).status;
    };
    const onA = new Client(a.url);
    const code = totp(secret);
    expect(await signIn(a, onA, code)).toBe(303);
    // The cookie made on A, presented to B.
    const cookie = (onA as unknown as { cookie: string }).cookie;
    const account = await fetch(`${b.url}/portal/account`, {
      headers: { cookie },
      redirect: 'manual',
    });
    expect(account.status).toBe(200);
    expect(await account.text()).toContain('bob');
    expect(await signIn(b, new Client(b.url), code)).toBe(400);
    // Wrong codes alternating A, B, A, ...: the policy's five (the replay above was the first).
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const s = i % 2 ? b : a;
      statuses.push(await signIn(s, new Client(s.url), '000000'));
    }
    expect(statuses).toEqual([400, 400, 400, 429, 429, 429]);
    expect(await signIn(b, new Client(b.url), totp(secret, Date.now() + 30_000))).toBe(429);
  }, 120_000);

  it('a replica killed with -9 and restarted under connected agents: no lost event, no missed change', async () => {
    const {
      servers: [a, b],
    } = await replicas(2);
    if (!a || !b) throw new Error('no replicas');
    const agents = await Promise.all(
      Array.from({ length: 10 }, async () => agentOn(b, await registerDevice(a))),
    );
    const ids = agents.map(() => randomUUID());
    agents.forEach((ag, i) =>
      ag.sendEvents([
        { id: ids[i] as string, at: Date.now(), user: 'x', service: 'sudo', outcome: 'ok' },
      ]),
    );
    await Promise.all(agents.map((ag) => ag.next('eventsAck', 30_000)));
    b.kill(); // -9, mid-flight
    await Promise.all(agents.map((ag) => ag.closed));
    // Made on A while B is down: the agents get it once B is back (from the change log).
    await idvctl(a, ['user', 'add', 'carol']);
    await b.restart();
    await Promise.all(
      agents.map(async (ag) => {
        const fresh = new SimAgent(b.url, ag.identity);
        fresh.revision = ag.revision;
        await fresh.connect();
        await fresh.nextSync(30_000);
        expect(fresh.users.has('carol')).toBe(true);
        await fresh.close();
      }),
    );
    const stored = await idvctl(a, ['events', '--user', 'x', '--limit', '100']);
    const got = (stored.json as { events: { id: string }[] }).events.map((e) => e.id);
    expect(got.sort()).toEqual([...ids].sort());
  }, 180_000);

  it('PostgreSQL stopped and started: B listens again and catches up with a change made meanwhile', async () => {
    const {
      servers: [a, b],
    } = await replicas(2);
    if (!a || !b) throw new Error('no replicas');
    const onB = await agentOn(b, await registerDevice(a));
    await (cluster as PgCluster).stop();
    // While the database is down the API says so (503), and the agent stays connected.
    const down = await idvctl(a, ['user', 'add', 'dave']);
    expect(down.code).not.toBe(0);
    await (cluster as PgCluster).start();
    // The dangerous moment happened: B's LISTEN connection was cut and had to come back.
    await until('B to listen again', () => b.logs().includes('listening again'), 60_000);
    await until(
      'A to take changes again',
      async () => (await idvctl(a, ['user', 'add', 'erin'])).code === 0,
      60_000,
    );
    await until('erin on the agent of B', () => onB.users.has('erin'), 60_000);
    expect(onB.users.has('dave')).toBe(false);
    await onB.close();
  }, 180_000);
});
