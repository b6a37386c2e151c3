/**
 * --ca pins the server's CA for registration (HTTPS) and the live sync (WSS): a server whose
 * certificate is signed by an unknown CA is refused with a message that says what to do.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import { AGENT_BIN, askAgent, begin, codeFor, waitFor } from '../helpers/agent.js';
import { parseOtpauthUri } from '../../protocol/totp.js';
import { spawn, type ChildProcess } from 'node:child_process';

let dir: string;
let server: TestServer;
let agent: ChildProcess | undefined;
const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idv-agent-tls-'));
  ossl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=idv test CA',
  ]);
  ossl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  ossl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  server = await startServer({
    args: ['--tls-cert', join(dir, 'server.pem'), '--tls-key', join(dir, 'server.key')],
    env: { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') },
  });
});
afterAll(async () => {
  agent?.kill('SIGKILL');
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('idv-agent with a TLS server', () => {
  it('refuses an unknown CA, then registers and syncs over wss with --ca', async () => {
    expect(server.url).toMatch(/^https:/);
    const ctlEnv = { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') };
    const ctl = async (args: string[]) => {
      const r = await idvctl(server, args, ctlEnv);
      if (r.code !== 0) throw new Error(`idvctl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      return r;
    };
    await ctl(['user', 'add', 'alice']);
    const e = await ctl(['user', 'enroll', 'alice', '--show-secret']);
    const params = parseOtpauthUri((e.json as { otpauthUri: string }).otpauthUri)!.params;
    await ctl(['user', 'confirm', 'alice', codeFor(params)]);
    const t = await idvctl(server, ['device', 'token', 'create', '--uses', '2'], ctlEnv);
    const token = (t.json as { token: string }).token;
    const data = join(dir, 'agent');
    const noCa = await run(AGENT_BIN, [
      'register',
      '--json',
      '--server',
      server.url,
      `--token=${token}`,
      '--data-dir',
      data,
    ]);
    expect(noCa.json).toMatchObject({
      error: { code: 'SERVER_UNREACHABLE', message: expect.stringContaining('--ca') },
    });
    // NODE_TLS_REJECT_UNAUTHORIZED=0 in the agent's environment must not switch verification off.
    const envOff = await run(
      AGENT_BIN,
      ['register', '--json', '--server', server.url, `--token=${token}`, '--data-dir', data],
      { NODE_TLS_REJECT_UNAUTHORIZED: '0' },
    );
    expect(envOff.json).toMatchObject({ error: { code: 'SERVER_UNREACHABLE' } });

    const ok = await run(AGENT_BIN, [
      'register',
      '--json',
      '--server',
      server.url,
      `--token=${token}`,
      '--ca',
      join(dir, 'ca.pem'),
      '--data-dir',
      data,
    ]);
    expect(ok.code).toBe(0);
    const socket = join(dir, 'run', 'agent.sock');
    agent = spawn(AGENT_BIN, ['run', '--data-dir', data, '--socket', socket], { stdio: 'ignore' });
    await waitFor(
      async () => (await askAgent(socket, [{ type: 'status', v: 1 }]))[0]?.connected === true,
      'wss sync',
      15_000,
    );
    const [r] = await askAgent(socket, [begin('alice')]);
    expect(r).toMatchObject({ type: 'prompt' });
  });
});
