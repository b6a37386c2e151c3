/**
 * An admin action reaches a forwarding destination at once, not at the forwarder's poll: the
 * audit append posts a committed notice (store/notices.ts `audit`; on PostgreSQL a pg_notify in
 * the same transaction), which wakes the audit stream of every replica's forwarder. The poll is
 * set to 60 s here, so without the wake-up each case below would wait a minute.
 *
 * Real parts: a real HTTPS webhook receiver (tests/helpers/webhook.ts), a real idv-server on
 * SQLite, and two real replicas on one real PostgreSQL of which only A forwards, with the
 * action made through B.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/agent.js';
import { POSTGRES_MISSING, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { startReplicas } from '../helpers/replicas.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook.js';

type Json = Record<string, unknown>;
const POLL_SECONDS = 60;
/** "Well before the poll": a quarter of it, generous for a shared machine. */
const WITHIN_MS = (POLL_SECONDS * 1000) / 4;

let hook: WebhookReceiver;
let cluster: PgCluster | null = null;
const servers: TestServer[] = [];

beforeAll(async () => {
  hook = await webhookReceiver();
  cluster = await startPostgres();
}, 120_000);
afterAll(async () => {
  for (const s of servers.splice(0)) await s.stop();
  await hook?.remove();
  cluster?.remove();
});

const forward = () => ({
  forward: {
    webhooks: [{ url: hook.url, secretFile: hook.secretFile, caFile: hook.caFile }],
    streams: ['audit'],
    pollSeconds: POLL_SECONDS,
  },
});

/** Waits until the server's audit stream has its cursor (set up; `startAt: now` from there). */
async function forwarding(server: TestServer): Promise<void> {
  await waitFor(async () => {
    const r = await idvctl(server, ['forward', 'status']);
    const dests = (r.json as { destinations?: Json[] }).destinations ?? [];
    return dests.length === 1 && dests[0]?.stream === 'audit' && dests[0]?.cursor !== null;
  }, 'the audit stream forwarding');
}

/** Makes an action through `via` and says how long until the receiver had it. */
async function delivered(via: TestServer, args: string[], target: string): Promise<number> {
  const started = Date.now();
  expect((await idvctl(via, args)).code).toBe(0);
  await waitFor(
    () =>
      hook
        .requests()
        .flatMap((r) => (JSON.parse(r.body) as { records: Json[] }).records)
        .some((x) => x.kind === 'admin' && x.target === target),
    `${target} at the webhook`,
    WITHIN_MS,
  );
  expect(hook.requests().every((r) => r.valid)).toBe(true);
  return Date.now() - started;
}

describe('admin actions wake the forwarder', () => {
  it('on one server (SQLite): an action is at the receiver long before the 60 s poll', async () => {
    const server = await startServer({ config: forward() });
    servers.push(server);
    await forwarding(server);
    expect(await delivered(server, ['user', 'add', 'solo'], 'solo')).toBeLessThan(WITHIN_MS);
    // Again after a first delivery (the worker went back to sleep).
    expect(await delivered(server, ['user', 'add', 'solo2'], 'solo2')).toBeLessThan(WITHIN_MS);
  });

  it('a destination that is down keeps its retry backoff however many actions wake the stream', async () => {
    const server = await startServer({
      config: { forward: { ...forward().forward, retrySeconds: 5 } },
    });
    servers.push(server);
    await forwarding(server);
    await hook.stop();
    const names = Array.from({ length: 6 }, (_, i) => `down${i}`);
    for (const name of names) expect((await idvctl(server, ['user', 'add', name])).code).toBe(0);
    // Each action woke the audit stream; the first send failed and the retry waits 5 s: one
    // failure so far (two if the 5 s passed on a slow machine), not one per action.
    const failures = server
      .logs()
      .split('\n')
      .filter((l) => l.includes('forwarding failed'));
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.length).toBeLessThanOrEqual(2);
    await hook.start();
    await waitFor(
      () => {
        const got = hook
          .requests()
          .flatMap((r) => (JSON.parse(r.body) as { records: Json[] }).records)
          .map((x) => x.target);
        return names.every((n) => got.includes(n));
      },
      'every action once the receiver is back',
      60_000,
    );
  });

  it.skipIf(POSTGRES_MISSING !== null)(
    'across replicas (PostgreSQL): an action made through B is forwarded by A at once',
    async () => {
      const {
        servers: [a, b],
      } = await startReplicas(cluster as PgCluster, 2, (i) => (i === 0 ? forward() : {}));
      if (!a || !b) throw new Error('no replicas');
      servers.push(a, b);
      await forwarding(a);
      expect(await delivered(b, ['user', 'add', 'via-b'], 'via-b')).toBeLessThan(WITHIN_MS);
      expect(await delivered(b, ['policy', 'set', '--max-attempts', '4'], 'default')).toBeLessThan(
        WITHIN_MS,
      );
      expect(await delivered(a, ['user', 'add', 'via-a'], 'via-a')).toBeLessThan(WITHIN_MS);
    },
  );
});
