/**
 * A replica silently cut from PostgreSQL: two real replicas on one real cluster that runs in a
 * network namespace of the test's own, each reaching it over its own veth pair; an iptables DROP
 * on B's pair cuts B without a word (no reset, no ICMP), as a firewall or a dead switch would.
 *
 * B notices within seconds (its LISTEN connection's ping goes unanswered): `/healthz` says
 * `stale` and answers fast although every query of B's hangs, and B's agents say `serverStaleSince`.
 * A change made through A meanwhile (a suspension) reaches B's agent within seconds of the heal,
 * and the suspended user is refused there. Needs root (namespaces, iptables).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCode } from '../../protocol/totp.js';
import { addEnrolledUser, startAgent } from '../helpers/agent.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { POSTGRES_MISSING, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startReplicas, until } from '../helpers/replicas.js';
import { missing } from '../helpers/require.js';
import { idvctl, type TestServer } from '../helpers/server.js';
import { pamEnv, runHelper } from './helper-world.js';

/** How long B stays cut. */
const CUT_MS = 60_000;

const MISSING = POSTGRES_MISSING ?? missing({ root: true, commands: ['ip', 'iptables'] });

let ns: Netns | null = null;
let cluster: PgCluster | null = null;
beforeAll(async () => {
  if (MISSING) return;
  ns = createNetns(2);
  cluster = await startPostgres({
    netns: ns.name,
    listen: ns.links.map((l) => l.ns),
    clients: ns.links.map((l) => l.host),
  });
}, 120_000);
afterAll(() => {
  cluster?.remove();
  ns?.remove();
});

interface Health {
  status: number;
  ms: number;
  body: { ok: boolean; revision: number | null; stale: { since: string } | null };
}
async function health(s: TestServer): Promise<Health> {
  const t0 = performance.now();
  const res = await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(20_000) });
  const body = (await res.json()) as Health['body'];
  return { status: res.status, ms: performance.now() - t0, body };
}

describe.skipIf(MISSING !== null)('a replica silently cut from PostgreSQL', () => {
  it('says it is stale (healthz, agents) and catches its agents up within seconds of the heal', async () => {
    const net = ns as Netns;
    const first = net.links[0]?.ns as string;
    const {
      servers: [a, b],
    } = await startReplicas(cluster as PgCluster, 2, {}, (url, i) =>
      url.replace(first, net.links[i]?.ns as string),
    );
    if (!a || !b) throw new Error('no replicas');
    const alice = (await addEnrolledUser(a, 'alice')).totp;
    const agent = await startAgent({ server: b });
    const status = async () =>
      (await agent.cli(['status', '--json'])).json as {
        connected: boolean;
        revision: number;
        users: number;
        serverStaleSince?: string | null;
      };
    try {
      await until('the agent in sync with B', async () => (await status()).users === 1);
      expect((await health(b)).body).toMatchObject({ ok: true, stale: null });

      net.cut(1);
      const cutAt = Date.now();
      let h = await health(b);
      await until('B says it is stale', async () => (h = await health(b)).body.stale !== null);
      const noticedMs = Date.now() - cutAt;
      expect(h.status).toBe(503);
      expect(h.body.ok).toBe(false);
      // Every query of B's hangs now, and healthz still answers at once.
      let slowest = Math.max(h.ms, (await health(b)).ms);
      expect(slowest).toBeLessThan(2500);
      await until('the agent says its server is stale', async () =>
        /^\d{4}-/.test((await status()).serverStaleSince ?? ''),
      );
      expect((await status()).connected).toBe(true);

      // A change made through A while B hears nothing: alice suspended.
      expect((await idvctl(a, ['user', 'suspend', 'alice'])).code).toBe(0);
      const target = (await health(a)).body.revision as number;
      expect((await status()).revision).toBeLessThan(target);

      // A long cut, as in the attack run (TCP's retransmissions back off to a minute and more;
      // a short one heals by itself): healthz asked all along stays stale and fast.
      while (Date.now() - cutAt < CUT_MS) {
        h = await health(b);
        expect(h.body.stale).not.toBeNull();
        slowest = Math.max(slowest, h.ms);
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(slowest).toBeLessThan(2500);
      expect((await status()).revision).toBeLessThan(target);

      net.heal(1);
      const healedAt = Date.now();
      await until('the suspension on B’s agent', async () => (await status()).revision >= target);
      const caughtUpMs = Date.now() - healedAt;
      // Bounded by the listener's reconnect backoff (at most 5 s) and its connect wait (3 s);
      // before, the dead connection waited for TCP's next retransmission (~45 s after this cut).
      expect(caughtUpMs).toBeLessThan(15_000);
      console.log(
        `partition: B stale after ${noticedMs} ms, healthz at most ${Math.round(slowest)} ms during the cut, agent caught up ${caughtUpMs} ms after the heal`,
      );
      const code = generateCode(alice, Date.now());
      const login = await runHelper(['--socket', agent.socket, '--authtok'], pamEnv('alice'), code);
      expect(login.code).not.toBe(0);
      await until('B healthy again', async () => (await health(b)).status === 200);
      await until('the agent no longer says stale', async () => !(await status()).serverStaleSince);
    } finally {
      net.heal(1);
      await agent.stop();
    }
  }, 180_000);
});
