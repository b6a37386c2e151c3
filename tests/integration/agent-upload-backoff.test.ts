/**
 * A server that cannot store an uploaded batch (its database refuses the transaction; here a
 * trigger on the real server's events table, the way a full disk or an overflowing column would)
 * must not make its agents reconnect and upload in a tight loop: uploads back off (exponential,
 * full jitter), `status` says why and when the next try is, and once the store takes events again
 * the outbox drains.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Database } from '../../protocol/io/sqlite.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import {
  addEnrolledUser,
  agentStatus,
  askAgent,
  begin,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';

let server: TestServer | undefined;
let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  server?.kill();
  agent = undefined;
  server = undefined;
});

const count = (text: string, re: RegExp): number => text.match(new RegExp(re, 'g'))?.length ?? 0;

describe('an upload the server cannot store', () => {
  it('backs off instead of reconnecting in a loop, says why in status, drains once stored', async () => {
    server = await startServer();
    await addEnrolledUser(server, 'alice');
    // Cap 2 s: the window below sees the backoff reach it.
    agent = await startAgent({ server, agentConfig: { backoffBaseMs: 200, backoffCapMs: 2000 } });
    await waitConnected(agent, true);

    const db = await Database.open(join(server.dataDir, 'idv.db'));
    try {
      await db.exec(
        "CREATE TRIGGER idv_test_refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'test: the store refuses events'); END",
      );
      expect((await askAgent(agent.socket, [begin('alice')]))[0]).toMatchObject({
        type: 'prompt',
      });
      const failures = () => count(server!.logs(), /agent message failed/);
      await waitFor(() => failures() >= 1, 'the first refused upload');

      // A 10 s window: a tight loop refuses dozens of uploads (one per reconnect, ~0.1 s each);
      // the backoff (0.2 s doubling to a 2 s cap, full jitter) a handful.
      const before = failures();
      const start = Date.now();
      const status = await waitFor(
        async () => {
          const s = (await agentStatus(agent!)) as Record<string, unknown>;
          return Date.now() - start >= 10_000 ? s : null;
        },
        'the end of the window',
        30_000,
      );
      const refused = failures() - before;
      expect(refused).toBeLessThanOrEqual(20);
      expect(status.outbox).toBeGreaterThanOrEqual(1);
      const upload = status.uploadError as Record<string, unknown>;
      expect(upload).toMatchObject({ code: 'INTERNAL' });
      expect(upload.message).toMatch(/did not store the uploaded events/);
      expect(upload.message).toMatch(/could not store the uploaded events/);
      expect(upload.attempts).toBeGreaterThanOrEqual(2);
      expect(Date.parse(upload.retryAt as string)).toBeGreaterThanOrEqual(
        Date.parse(upload.at as string),
      );
      const text = await agent.cli(['status']);
      expect(text.stdout).toMatch(/^upload: {5}failing \(\d+ attempt\(s\) in a row.*next try at /m);

      await db.exec('DROP TRIGGER idv_test_refuse');
    } finally {
      await db.close();
    }
    const drained = await waitFor(
      async () => {
        const s = (await agentStatus(agent!)) as Record<string, unknown>;
        return s.outbox === 0 && !s.uploadError ? s : null;
      },
      'the outbox drained',
      20_000,
    );
    expect(drained.connected).toBe(true);
    const ev = await idvctl(server, ['events', '--user', 'alice']);
    expect(JSON.stringify(ev.json)).toContain('"prompt"');
    expect((await agent.cli(['status'])).stdout).not.toMatch(/^upload:/m);
  }, 120_000);
});
