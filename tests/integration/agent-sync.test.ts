import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import {
  addEnrolledUser,
  AGENT_BIN,
  agentStatus,
  askAgent,
  begin,
  codeFor,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import type { TotpParams } from '../../protocol/messages.js';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let server: TestServer;
let agent: TestAgent;
let alice: TotpParams;

beforeAll(async () => {
  server = await startServer();
  ({ totp: alice } = await addEnrolledUser(server, 'alice'));
  agent = await startAgent({ server, policy: { maxAttempts: 3, lockoutSeconds: 900 } });
});
afterAll(async () => {
  await agent?.stop();
  await server?.stop();
});

describe('idv-agent against a real idv-server', () => {
  it('registers, syncs and reports its state', async () => {
    const s = await waitFor(async () => {
      const st = await agentStatus(agent);
      return st.connected && st.users === 1 ? st : null;
    }, 'first sync');
    expect(s.revision).toBeGreaterThan(0);
    expect(s.lastSyncAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const devices = await idvctl(server, ['device', 'list']);
    expect(JSON.stringify(devices.json)).toContain(agent.deviceId);
  });

  it('verifies a code from the cache: ok once, replay refused', async () => {
    const code = codeFor(alice);
    const [p, ok] = await askAgent(agent.socket, [begin('alice'), { type: 'verify', code }]);
    expect(p).toEqual({ type: 'prompt', prompts: 3 });
    expect(ok).toEqual({ type: 'ok' });
    const [, again] = await askAgent(agent.socket, [begin('alice'), { type: 'verify', code }]);
    expect(again).toMatchObject({ type: 'invalid', attemptsLeft: 2 });
    // Neither the code nor the secret ever reaches the agent's logs (which are at debug level).
    expect(agent.logs()).not.toContain(code);
    expect(agent.logs()).not.toContain(alice.secret);
  });

  it('applies a change pushed by the server at once (user added → prompted)', async () => {
    const [before] = await askAgent(agent.socket, [begin('bob')]);
    expect(before).toEqual({ type: 'skip' });
    await addEnrolledUser(server, 'bob');
    await waitFor(
      async () => (await askAgent(agent.socket, [begin('bob')]))[0]?.type === 'prompt',
      'bob pushed',
      2000,
    );
  });

  it('uploads every decision as an event to the server', async () => {
    await waitFor(async () => (await agentStatus(agent)).outbox === 0, 'outbox drained');
    const ev = await idvctl(server, ['events', '--device', agent.deviceId]);
    const text = JSON.stringify(ev.json);
    expect(text).toContain('"ok"');
    expect(text).toContain('"invalid"');
  });

  it('doctor: all checks pass on a healthy agent, and a loose key file fails with its path', async () => {
    const pamDir = mkdtempSync(join(tmpdir(), 'idv-pamd-'));
    writeFileSync(
      join(pamDir, 'sudo'),
      '# idv-pam-helper in a comment does not count\n@include common-auth\n',
    );
    writeFileSync(
      join(pamDir, 'sshd'),
      'auth required pam_exec.so quiet /usr/bin/idv-pam-helper\n',
    );
    const ok = await agent.cli(['doctor', '--json', '--pam-dir', pamDir]);
    const report = ok.json as {
      ok: boolean;
      checks: { name: string; status: string; detail: string }[];
    };
    expect(ok.code).toBe(0);
    expect(report.ok).toBe(true);
    const by = (n: string) => report.checks.find((c) => c.name === n);
    expect(by('clock offset to the server')?.status).toBe('pass');
    expect(by('PAM services')?.detail).toMatch(/^sshd call idv-pam-helper/);
    expect(by('socket')?.status).toBe('pass');

    chmodSync(join(agent.dataDir, 'cache.key'), 0o644);
    try {
      const bad = await agent.cli(['doctor', '--pam-dir', pamDir]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/^FAIL {2}cache key: .*cache\.key is mode 0644/m);
    } finally {
      chmodSync(join(agent.dataDir, 'cache.key'), 0o600);
      rmSync(pamDir, { recursive: true, force: true });
    }
  });

  it('register: clear errors for a server that is down, a wrong URL and a used or bogus token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idv-agent-reg-'));
    const reg = (server: string, token: string, sub: string) =>
      run(AGENT_BIN, [
        'register',
        '--json',
        '--server',
        server,
        `--token=${token}`,
        '--data-dir',
        join(dir, sub),
      ]);
    try {
      const t = await idvctl(server, ['device', 'token', 'create', '--uses', '1']);
      const token = (t.json as { token: string }).token;

      const down = await reg('http://127.0.0.1:1', token, 'a');
      expect(down.code).toBe(1);
      expect(down.json).toMatchObject({
        error: { code: 'SERVER_UNREACHABLE', message: expect.stringContaining('ECONNREFUSED') },
      });

      const wrong = await reg(`${server.url}/not-idv`, token, 'b');
      expect(wrong.json).toMatchObject({
        error: { code: 'SERVER_UNREACHABLE', message: expect.stringContaining('no idv server') },
      });

      const bogus = await reg(server.url, 'x'.repeat(40), 'c');
      expect(bogus.json).toMatchObject({ error: { code: 'TOKEN_INVALID' } });

      expect((await reg(server.url, token, 'd')).code).toBe(0);
      const used = await reg(server.url, token, 'e');
      expect(used.json).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
      expect(existsSync(join(dir, 'e', 'agent.json'))).toBe(false);

      const again = await reg(server.url, token, 'd');
      expect(again.json).toMatchObject({ error: { code: 'ALREADY_INITIALIZED' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
