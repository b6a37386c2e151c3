/**
 * A stolen machine's last word: logins a device allowed while offline, before it learnt it was
 * revoked, reach the audit trail. A real agent logs alice in twice with no server, the device is
 * revoked meanwhile, and the agent comes back: the server takes its outbox once (sync protocol
 * 3, `revoked`), stores the events flagged `afterRevocation` (events API, forwarding), and gives
 * it nothing else: no snapshot, no change made meanwhile, and it refuses codes from then on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '../../agent/policy/messages.js';
import { eventsCsv } from '../../server/console/live-routes.js';
import {
  addEnrolledUser,
  agentStatus,
  codeFor,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { pamEnv, runHelper } from './helper-world.js';

let server: TestServer | undefined;
let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  server?.kill();
  agent = undefined;
  server = undefined;
});

interface EventView {
  user: string;
  outcome: string;
  device: string;
  afterRevocation?: boolean;
}

describe('a revoked device’s offline logins', () => {
  it('reach the events, flagged, and the device gets nothing else', async () => {
    server = await startServer();
    const { totp } = await addEnrolledUser(server, 'alice');
    agent = await startAgent({ server });
    await waitConnected(agent, true);
    const before = await agentStatus(agent);
    const sock = ['--socket', agent.socket, '--authtok'];

    // The machine is cut off (stolen): two logins decided from its cache, queued.
    await server.stop();
    await waitConnected(agent, false);
    expect((await runHelper(sock, pamEnv('alice'), codeFor(totp))).code).toBe(0);
    const next = codeFor(totp, Date.now() + 30_000);
    expect((await runHelper(sock, pamEnv('alice'), next)).code).toBe(0);
    expect((await agentStatus(agent)).outbox).toBeGreaterThanOrEqual(2);
    await agent.kill('SIGTERM');

    // Meanwhile the admin revokes it, and changes what its users may do.
    await server.restart();
    expect((await idvctl(server, ['device', 'revoke', agent.deviceId])).code).toBe(0);
    await addEnrolledUser(server, 'bob');

    await agent.restart();
    const last = await waitFor(async () => {
      const s = await agentStatus(agent!);
      return s.revoked && s.outbox === 0 ? s : null;
    }, 'the outbox delivered and the revocation recorded');
    // Nothing else came: no snapshot or delta (bob, the revision), and no more syncing.
    expect(last.revision).toBe(before.revision);
    expect(last.users).toBe(before.users);
    expect(last.connected).toBe(false);
    expect(agent.logs()).toContain('uploading the logins decided meanwhile');

    const events = (
      (await idvctl(server, ['events', '--device', agent.deviceId])).json as {
        events: EventView[];
      }
    ).events;
    const stolen = events.filter((e) => e.user === 'alice' && e.outcome === 'ok');
    expect(stolen).toHaveLength(2);
    for (const e of stolen) expect(e.afterRevocation).toBe(true);
    // The console's CSV export carries the flag too (its last column).
    const csv = eventsCsv(events as unknown as Parameters<typeof eventsCsv>[0]).split('\r\n');
    expect(csv[0]).toMatch(/,afterRevocation$/);
    expect(csv.filter((l) => /,alice,.*,ok,.*,true$/.test(l))).toHaveLength(2);
    expect(server.logs()).toMatch(/revoked device uploaded what it decided before it knew/);

    // From now on codes are refused there, and a restart does not connect again.
    const refused = await runHelper(sock, pamEnv('alice'), codeFor(totp, Date.now() + 60_000));
    expect(refused.code).toBe(1);
    expect(refused.stdout.trim()).toBe(MESSAGES.revoked);
    await agent.restart();
    expect(agent.logs()).toMatch(/revoked by the server: not connecting/);
  }, 120_000);
});
