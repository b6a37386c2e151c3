/**
 * What idvctl and `idv-agent register` say when something is wrong (issue 24): each error names
 * what to do next — a server URL without a scheme (and where it came from), nothing listening,
 * https:// against a plain-HTTP server, a refused registration token — and a failed register
 * leaves no data folder behind. Real binaries against a real server on loopback.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../../server/config.js';
import { addEnrolledUser, AGENT_BIN } from '../helpers/agent.js';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let base: string;
/** A loopback port nothing listens on (bound, then closed). */
let closedPort: number;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'idv-cli-messages-'));
  server = await startServer();
  closedPort = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
});

const ctl = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(IDVCTL_BIN, args, { IDV_TOKEN: server.adminToken, IDV_SERVER: '', ...env });

function register(serverUrl: string, token: string) {
  const dataDir = join(mkdtempSync(join(base, 'reg-')), 'data');
  return {
    dataDir,
    result: run(AGENT_BIN, [
      'register',
      '--server',
      serverUrl,
      `--token=${token}`,
      '--data-dir',
      dataDir,
    ]),
  };
}

describe('idvctl errors say what to do next', () => {
  it('a server URL without a scheme: names IDV_SERVER when it came from there, and the fix', async () => {
    const r = await ctl(['user', 'list'], { IDV_SERVER: '127.0.0.1:8443' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('IDV_SERVER "127.0.0.1:8443"');
    expect(r.stderr).toContain('start it with https://');
    expect(r.stderr).not.toContain('--server');
    const flag = await ctl(['--server', 'idv.example.com', 'user', 'list']);
    expect(flag.stderr).toContain('--server "idv.example.com"');
  });

  it('nothing listening: asks whether idv-server is running', async () => {
    const r = await ctl(['--server', `http://127.0.0.1:${closedPort}`, 'user', 'list']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ECONNREFUSED');
    expect(r.stderr).toContain('is idv-server running there');
  });

  it('https:// against a plain-HTTP server: says to use http://', async () => {
    const host = new URL(server.url).host;
    const r = await ctl(['--server', `https://${host}`, 'user', 'list']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`use http://${host}`);
    // The right URL works.
    expect((await idvctl(server, ['user', 'list'])).code).toBe(0);
  });

  it("the packaged unit and env file listen on serve's own default port", () => {
    const port = CONFIG_DEFAULTS.listen.split(':').at(-1) ?? '';
    const root = join(import.meta.dirname, '..', '..');
    for (const file of [
      'packaging/systemd/idv-server.service',
      'packaging/deb/idv-server/server.env',
    ]) {
      const listen = /IDV_LISTEN=(\S+)/.exec(readFileSync(join(root, file), 'utf8'))?.[1] ?? '';
      expect(listen.split(':').at(-1), file).toBe(port);
    }
  });

  it('--help names the flags it prefers', async () => {
    const r = await run(IDVCTL_BIN, ['--help']);
    expect(r.stdout).not.toContain('the two above');
    expect(r.stdout).toContain('prefer --token-file or IDV_TOKEN');
  });
});

describe('idv-agent register errors say what to do next, and leave nothing behind', () => {
  it('nothing listening: the hint, and no data folder with a device.key', async () => {
    const { dataDir, result } = register(`http://127.0.0.1:${closedPort}`, 'x'.repeat(40));
    const r = await result;
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('is idv-server running there');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a used-up token: TOKEN_INVALID with where a new one comes from; no data folder', async () => {
    const t = await idvctl(server, ['device', 'token', 'create', '--uses', '1']);
    const token = (t.json as { token: string }).token;
    const first = register(server.url, token);
    expect((await first.result).code).toBe(0);
    const { dataDir, result } = register(server.url, token);
    const r = await result;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'used up or expired: make a new one with "idvctl device token create"',
    );
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a server URL without a scheme: shows what it should look like', async () => {
    const { result } = register('idv.example.com:8443', 'x'.repeat(40));
    const r = await result;
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain('like https://idv.example.com:8443');
  });
});

describe('idv-agent on a machine not registered yet', () => {
  it('status says to register, not that figures come from a cache; doctor says how to start the agent', async () => {
    const dir = mkdtempSync(join(base, 'bare-'));
    const args = ['--data-dir', join(dir, 'data'), '--socket', join(dir, 'run', 'agent.sock')];
    const status = await run(AGENT_BIN, ['status', ...args]);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('this machine is not registered yet');
    expect(status.stderr).toContain('idv-agent register');
    expect(status.stderr).not.toContain('from the cache');
    const doctor = await run(AGENT_BIN, ['doctor', ...args]);
    expect(doctor.stdout).toMatch(/^FAIL {2}socket: .*systemctl start idv-agent/m);
  });
});

describe('idvctl warns before a silent surprise', () => {
  it('policy set on a device group nothing has yet: a warning naming the known groups', async () => {
    const typo = await idvctl(server, [
      'policy',
      'set',
      '--device-group',
      'defualt',
      '--window',
      '2',
    ]);
    expect(typo.code).toBe(0);
    expect(typo.stderr).toContain('warning: device group defualt is new (known: default');
    const known = await idvctl(server, [
      'policy',
      'set',
      '--device-group',
      'defualt',
      '--window',
      '1',
    ]);
    expect(known.stderr).not.toContain('warning');
    const plain = await idvctl(server, ['policy', 'set', '--window', '1']);
    expect(plain.stderr).not.toContain('warning');
  });

  it('user enroll on an enrolled user: a warning that the new app will replace the old', async () => {
    await addEnrolledUser(server, 'zoe');
    const r = await idvctl(server, ['user', 'enroll', 'zoe']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('zoe already has an authenticator app');
    await idvctl(server, ['user', 'add', 'yan']);
    const fresh = await idvctl(server, ['user', 'enroll', 'yan']);
    expect(fresh.stderr).not.toContain('warning');
  });
});
