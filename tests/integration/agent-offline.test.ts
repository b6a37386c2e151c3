import { afterEach, describe, expect, it } from 'vitest';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import {
  addEnrolledUser,
  agentStatus,
  askAgent,
  begin,
  codeFor,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { Database } from '../../protocol/io/sqlite.js';
import { join } from 'node:path';
import { MESSAGES } from '../../agent/policy/messages.js';
import { pamEnv, runHelper } from './helper-world.js';

let server: TestServer | undefined;
let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  server?.kill();
  agent = undefined;
  server = undefined;
});

describe('idv-agent offline and reconnecting', () => {
  it('server stopped: codes still verified from the cache, events queue, then upload after restart', async () => {
    server = await startServer();
    const { totp } = await addEnrolledUser(server, 'alice');
    agent = await startAgent({ server });
    await waitConnected(agent, true);
    await server.stop();
    await waitConnected(agent, false);

    const [p, ok] = await askAgent(agent.socket, [
      begin('alice'),
      { type: 'verify', code: codeFor(totp) },
    ]);
    expect(p).toMatchObject({ type: 'prompt' });
    expect(ok).toEqual({ type: 'ok' });
    const queued = await agentStatus(agent);
    expect(queued.outbox).toBeGreaterThanOrEqual(2);

    await server.restart();
    await waitConnected(agent, true);
    await waitFor(async () => (await agentStatus(agent!)).outbox === 0, 'outbox uploaded');
    const ev = await idvctl(server, ['events', '--user', 'alice']);
    expect(JSON.stringify(ev.json)).toContain('"ok"');
  });

  it('detects a dead connection (server frozen) and reconnects when it wakes up', async () => {
    server = await startServer();
    await addEnrolledUser(server, 'alice');
    agent = await startAgent({ server, agentConfig: { heartbeatSeconds: 1 } });
    await waitConnected(agent, true);
    const pid = server.process().pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await waitConnected(agent, false);
      expect(agent.logs()).toMatch(/connection is dead/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitConnected(agent, true);
  });

  it('cache older than offlineMaxAge: failMode secure refuses, safe lets through', async () => {
    server = await startServer();
    await addEnrolledUser(server, 'alice');
    agent = await startAgent({
      server,
      policy: { offlineMaxAgeSeconds: 3600, failMode: 'secure' },
    });
    await waitConnected(agent, true);
    expect((await askAgent(agent.socket, [begin('alice')]))[0]).toMatchObject({ type: 'prompt' });
    await server.stop();
    await agent.kill('SIGTERM');
    // The cache's last sync, 2 hours ago (the agent is stopped; the server stays down).
    const db = await Database.open(join(agent.dataDir, 'cache.db'));
    await db.run("UPDATE meta SET value = ? WHERE key = 'lastSyncAt'", [
      JSON.stringify(Date.now() - 7200_000),
    ]);
    await db.close();
    await agent.restart();
    const [r] = await askAgent(agent.socket, [begin('alice')]);
    expect(r).toMatchObject({ type: 'deny', message: expect.stringContaining('offline too long') });

    // Same with failMode safe (set while the server is up, the agent picks it up, then offline again).
    await server.restart();
    await waitConnected(agent, true);
    const pol = await idvctl(server, [
      'policy',
      'set',
      '--device-group',
      'default',
      '--fail-mode',
      'safe',
    ]);
    expect(pol.code).toBe(0);
    await waitFor(async () => {
      await server!.stop();
      return true;
    }, 'server stopped');
    await agent.kill('SIGTERM');
    const db2 = await Database.open(join(agent.dataDir, 'cache.db'));
    const policy = (await db2.get<{ value: string }>(
      "SELECT value FROM meta WHERE key = 'policy'",
    ))!.value;
    expect(JSON.parse(policy).failMode).toBe('safe');
    await db2.run("UPDATE meta SET value = ? WHERE key = 'lastSyncAt'", [
      JSON.stringify(Date.now() - 7200_000),
    ]);
    await db2.close();
    await agent.restart();
    expect((await askAgent(agent.socket, [begin('alice')]))[0]).toMatchObject({ type: 'skip' });
  });

  it('a suspension is pushed at once; a revoked device refuses every code from then on, durably', async () => {
    server = await startServer();
    const alice = await addEnrolledUser(server, 'rv-alice');
    const bob = await addEnrolledUser(server, 'rv-bob');
    agent = await startAgent({ server, policy: { exemptUsers: ['rv-root'] } });
    await waitConnected(agent, true);
    const sock = ['--socket', agent.socket, '--authtok'];
    // Online: alice logs in; once suspended (pushed like any change), she is refused.
    expect((await runHelper(sock, pamEnv('rv-alice'), codeFor(alice.totp))).code).toBe(0);
    expect((await idvctl(server, ['user', 'suspend', 'rv-alice'])).code).toBe(0);
    const suspended = await waitFor(async () => {
      const r = await runHelper(sock, pamEnv('rv-alice'), codeFor(alice.totp, Date.now() + 30_000));
      return r.code === 1 && r.stdout.trim() === MESSAGES.suspended ? r : null;
    }, 'the suspension pushed to the agent');
    expect(suspended.code).toBe(1);

    // Revoked: the server closes the sync with REVOKED; from then on no code is accepted.
    const r = await idvctl(server, ['device', 'revoke', agent.deviceId]);
    expect(r.code).toBe(0);
    await waitFor(async () => (await agentStatus(agent!)).revoked, 'status shows revoked');
    const outboxBefore = (await agentStatus(agent)).outbox;
    const refused = await runHelper(sock, pamEnv('rv-bob'), codeFor(bob.totp));
    expect(refused.code).toBe(1);
    expect(refused.stdout.trim()).toBe(MESSAGES.revoked);
    // The refusal is recorded in the outbox (kept for upload), and it survives a restart.
    expect((await agentStatus(agent)).outbox).toBeGreaterThan(outboxBefore);
    // The break-glass account, never asked for a code, still gets through.
    expect((await runHelper(sock, pamEnv('rv-root'), '')).code).toBe(0);
    await agent.restart();
    const again = await runHelper(sock, pamEnv('rv-bob'), codeFor(bob.totp));
    expect(again.code).toBe(1);
    expect(again.stdout.trim()).toBe(MESSAGES.revoked);
    expect(agent.logs()).toMatch(/revoked by the server: not connecting/);
    await agent.kill('SIGTERM');
    // Stopped: status reads the cache (and exits 1, the agent is not running).
    const stopped = await agent.cli(['status', '--json']);
    expect(stopped.json).toMatchObject({ revoked: true, running: false });
  }, 120_000);
});
