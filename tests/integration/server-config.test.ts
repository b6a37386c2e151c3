/**
 * Operating the server: init and serve contracts, the config file (strict, path and reason on
 * error), plain http only on loopback, TLS with a private CA for idvctl and agents.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  IDVCTL_BIN,
  SERVER_BIN,
  idvctl,
  run,
  startServer,
  type TestServer,
} from '../helpers/server.js';
import { waitFor } from '../helpers/agent.js';
import { SimAgent } from '../helpers/sim-agent.js';
import { selfSignedCert } from '../helpers/tls.js';

const tmp = mkdtempSync(join(tmpdir(), 'idv-server-config-'));
const started: TestServer[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

async function initDir(name: string): Promise<string> {
  const dir = join(tmp, name);
  const r = await run(SERVER_BIN, ['init', '--data-dir', dir, '--json']);
  expect(r.code).toBe(0);
  return dir;
}

describe('init and serve', () => {
  it('init prints the admin token once and refuses an initialised dir', async () => {
    const dir = join(tmp, 'init');
    const r = await run(SERVER_BIN, ['init', '--data-dir', dir, '--json']);
    expect(r.code).toBe(0);
    expect((r.json as { adminToken: string }).adminToken).toMatch(/^idv_[A-Za-z0-9_-]{43}$/);
    const again = await run(SERVER_BIN, ['init', '--data-dir', dir, '--json']);
    expect(again.code).toBe(1);
    expect(again.json).toMatchObject({ error: { code: 'ALREADY_INITIALIZED' } });
  });

  it('serve refuses an uninitialised or group-readable data dir', async () => {
    const r = await run(SERVER_BIN, [
      'serve',
      '--data-dir',
      join(tmp, 'nothing'),
      '--listen',
      '127.0.0.1:0',
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ error: { code: 'NOT_INITIALIZED' } });
    const dir = await initDir('loose');
    chmodSync(dir, 0o755);
    const loose = await run(SERVER_BIN, [
      'serve',
      '--data-dir',
      dir,
      '--listen',
      '127.0.0.1:0',
      '--json',
    ]);
    expect(loose.json).toMatchObject({ error: { code: 'PERMISSION' } });
  });

  it('refuses plain http off loopback unless --insecure, saying why', async () => {
    const dir = await initDir('plain');
    const r = await run(SERVER_BIN, ['serve', '--data-dir', dir, '--listen', '0.0.0.0:0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing plain http on 0\.0\.0\.0.*--tls-cert.*--insecure/);
  });

  it('takes IDV_DATA_DIR and IDV_LISTEN from the environment, and exits 0 on SIGTERM', async () => {
    const dir = await initDir('env');
    const child = spawn(SERVER_BIN, ['serve'], {
      env: { ...process.env, IDV_DATA_DIR: dir, IDV_LISTEN: '127.0.0.1:0' },
    });
    let out = '';
    const ready = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^idv-server listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
        if (m) resolve(m[1] as string);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    expect(
      (await idvctl({ url: ready, adminToken: 'x'.repeat(43) }, ['user', 'list'])).json,
    ).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out.trim().split('\n')).toHaveLength(1);
  });
});

describe('shutdown with a live event stream', () => {
  it('ends `events --follow` streams and exits promptly', async () => {
    const s = await startServer();
    const follow = spawn(IDVCTL_BIN, [
      '--server',
      s.url,
      '--token',
      s.adminToken,
      'events',
      '--follow',
    ]);
    let out = '';
    let err = '';
    follow.stdout.on('data', (d: Buffer) => (out += d.toString()));
    follow.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const followExit = new Promise<number | null>((r) => follow.on('exit', (code) => r(code)));
    // The header comes once the server has taken the stream.
    await waitFor(() => out.startsWith('AT '), 'the follower to be connected', 20_000);
    // Without ending the stream, close() would wait for it forever (the test would time out).
    await s.stop();
    expect(s.process().exitCode).toBe(0);
    // The follower saw its stream end, and waits for the server to come back (tail -F).
    await waitFor(() => err.includes('reconnecting'), 'the follower to notice the end');
    expect(follow.exitCode).toBe(null);
    follow.kill('SIGTERM');
    await followExit;
  });
});

describe('config file', () => {
  const serveWith = async (config: string) => {
    const dir = await initDir(`cfg-${Math.random().toString(36).slice(2)}`);
    const file = join(tmp, `config-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, config);
    return {
      file,
      r: await run(SERVER_BIN, [
        'serve',
        '--data-dir',
        dir,
        '--listen',
        '127.0.0.1:0',
        '--config',
        file,
      ]),
    };
  };

  it('refuses unknown keys, wrong types and bad JSON with the path and the reason', async () => {
    const unknown = await serveWith('{"heartbeatSecs": 5}');
    expect(unknown.r.code).toBe(1);
    expect(unknown.r.stderr).toContain(unknown.file);
    expect(unknown.r.stderr).toMatch(/Unrecognized key.*heartbeatSecs/);
    const type = await serveWith('{"heartbeatSeconds": "often"}');
    expect(type.r.stderr).toMatch(/heartbeatSeconds/);
    const json = await serveWith('{"heartbeatSeconds": 5');
    expect(json.r.stderr).toContain(json.file);
    expect(json.r.stderr).toMatch(/not valid JSON/);
  });

  it('lets flags override the file', async () => {
    const dir = await initDir('override');
    const file = join(tmp, 'override.json');
    writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:1', maxDeltaChanges: 5 }));
    const s = await startServer({ dataDir: dir, args: ['--config', file] });
    started.push(s);
    expect(new URL(s.url).port).not.toBe('1');
  });
});

describe('TLS', () => {
  it('serves https and wss with the given certificate; idvctl and agents verify it with --ca', async () => {
    const { cert, key } = selfSignedCert(tmp);
    const dir = await initDir('tls');
    const s = await startServer({ dataDir: dir, args: ['--tls-cert', cert, '--tls-key', key] });
    started.push(s);
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const unverified = await idvctl(s, ['user', 'list']);
    expect(unverified.code).toBe(1);
    expect(unverified.json).toMatchObject({ error: { code: 'SERVER_UNREACHABLE' } });
    const ok = await idvctl(s, ['--ca', cert, 'user', 'add', 'tina']);
    expect(ok.code).toBe(0);
    const ca = readFileSync(cert);
    const token = (
      (await idvctl(s, ['--ca', cert, 'device', 'token', 'create'])).json as { token: string }
    ).token;
    const res = await fetch(`${s.url.replace('https', 'http')}/healthz`).catch(() => null);
    expect(res).toBeNull();
    // Register over https with the CA (node's fetch has no per-request CA: use the env of a child).
    const reg = await run(process.execPath, [
      '--input-type=module',
      '-e',
      `
      import https from 'node:https'; import { generateKeyPairSync } from 'node:crypto'; import { readFileSync, writeFileSync } from 'node:fs';
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const body = JSON.stringify({ token: ${JSON.stringify(token)}, publicKey: publicKey.export({ format: 'jwk' }).x, agentVersion: 'sim/1', facts: { hostname: 'h', os: 'linux', osVersion: '12', arch: 'x64' } });
      const req = https.request(${JSON.stringify(s.url)} + '/v1/register', { method: 'POST', ca: readFileSync(${JSON.stringify(cert)}), headers: { 'content-type': 'application/json' } }, (res) => {
        let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => { console.log(JSON.stringify({ ...JSON.parse(t), key: privateKey.export({ format: 'pem', type: 'pkcs8' }) })); });
      });
      req.end(body);
    `,
    ]);
    const out = reg.json as { deviceId: string; deviceGroup: string; key: string };
    expect(out.deviceId).toMatch(/^[0-9a-f-]{36}$/);
    const { createPrivateKey } = await import('node:crypto');
    const agent = new SimAgent(s.url, {
      deviceId: out.deviceId,
      deviceGroup: out.deviceGroup,
      privateKey: createPrivateKey(out.key),
    });
    await agent.connect({ ca });
    const snap = await agent.nextSync();
    expect(snap.type).toBe('snapshot');
    expect(snap.type === 'snapshot' && snap.users.map((u) => u.name)).toEqual(['tina']);
    await agent.close();
  });
});
