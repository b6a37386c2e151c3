/**
 * Upgrades that lose nothing (issue 26): a machine registered before helpdesk codes gets its
 * helpdesk secret over the sync channel (protocol 4) without registering again. Real server,
 * real agent, real helper. The "older machine" is a normal registration with its secret taken
 * away on both sides with the sqlite3 program (the state an older release left: no
 * helpdesk_sealed on the server, no `helpdesk` meta in the agent's cache).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addEnrolledUser, startAgent, waitFor, type TestAgent } from '../helpers/agent.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { pamEnv, runHelper } from './helper-world.js';

const USER = 'hdu-bob';
const GOT = 'this device got its helpdesk secret';

let server: TestServer;
let agent: TestAgent;

const sqlite = (file: string, sql: string): string =>
  execFileSync('sqlite3', [file, sql], { encoding: 'utf8' });

const issue = () =>
  idvctl(server, ['user', 'helpdesk-code', USER, '--device', agent.deviceId, '--valid', '1h']);

async function connected(): Promise<void> {
  await waitFor(async () => {
    const s = await agent.cli(['status', '--json']);
    return (s.json as { connected?: boolean } | null)?.connected === true;
  }, 'the agent to be connected and in sync');
}

const count = (text: string, part: string) => text.split(part).length - 1;

describe('a machine registered before helpdesk codes', () => {
  beforeAll(async () => {
    server = await startServer();
    await addEnrolledUser(server, USER);
    agent = await startAgent({ server, name: 'old-box' });
    await agent.kill('SIGTERM');
    // What an older release left behind: no secret on either side.
    sqlite(
      join(server.dataDir, 'idv.db'),
      `UPDATE devices SET helpdesk_sealed = NULL WHERE id = '${agent.deviceId}'`,
    );
    sqlite(join(agent.dataDir, 'cache.db'), `DELETE FROM meta WHERE key = 'helpdesk'`);
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('has no helpdesk code: 409 HELPDESK_UNAVAILABLE, saying how it gets one', async () => {
    const r = await issue();
    expect(r.code).toBe(1);
    expect((r.json as { error: unknown }).error).toEqual({
      code: 'HELPDESK_UNAVAILABLE',
      message: `device ${agent.deviceId} (old-box) has no helpdesk secret yet (registered before helpdesk codes): its agent gets one when it next connects, if it speaks sync protocol 4 (upgrade it otherwise)`,
    });
  });

  it('an agent that speaks only sync protocol 3 gets nothing and stays unavailable', async () => {
    await agent.restart({ IDV_TEST_SYNC_PROTOCOL: '1-3' });
    await connected();
    const r = await issue();
    expect((r.json as { error: { code: string } }).error.code).toBe('HELPDESK_UNAVAILABLE');
    expect(agent.logs()).not.toContain(GOT);
  });

  it('the upgraded agent gets its secret when it connects: codes are issued, once per device', async () => {
    await agent.restart();
    await waitFor(async () => (await issue()).code === 0, 'a helpdesk code for the old machine');
    expect(count(agent.logs(), GOT)).toBe(1);
    // A device that has its secret is never sent it again.
    await agent.restart();
    await connected();
    expect((await issue()).code).toBe(0);
    expect(count(agent.logs(), GOT)).toBe(1);
  });

  it('the code lets the user in through the real helper, offline', async () => {
    const r = await issue();
    expect(r.code).toBe(0);
    const { code } = r.json as { code: string };
    await server.stop();
    await waitFor(async () => {
      const s = await agent.cli(['status', '--json']);
      return (s.json as { connected: boolean }).connected === false;
    }, 'the agent to notice the server is gone');
    const login = await runHelper(['--socket', agent.socket, '--authtok'], pamEnv(USER), code);
    expect(login.code, login.stdout + login.stderr).toBe(0);
    expect(login.stdout).toContain('Helpdesk code accepted');
    // Neither the code nor anything about the secret's value is in the logs.
    for (const text of [server.logs(), agent.logs()]) {
      expect(text).not.toContain(code.replace(/-/g, ''));
      expect(text).not.toMatch(/"secret"/);
    }
  });
});
