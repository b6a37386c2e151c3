// The single executable from `npm run package`, built into a temp folder (outside the checkout,
// so nothing can come from node_modules): every program answers through its link, the helper
// fails closed, and server, idvctl, agent and helper from the binary carry a real login.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOtpauthUri, generateCode } from '../../protocol/totp.js';
import { expectVersionLine } from '../helpers/build-info.js';
import { hostileEnv } from '../helpers/hostile-env.js';

let tmp: string;
let out: string;
const children: ChildProcess[] = [];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  bin: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<Result> {
  return new Promise((done) => {
    const child = execFile(
      join(out, bin),
      args,
      { env: opts.env ?? { ...process.env }, cwd: tmp, timeout: 30_000 },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(opts.input ?? '');
  });
}

async function ok(bin: string, args: string[]): Promise<string> {
  const r = await run(bin, args);
  if (r.code !== 0)
    throw new Error(`${bin} ${args.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Starts a long-running program and resolves with the first stdout match of `ready`. */
function startReady(bin: string, args: string[], ready: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolveReady, reject) => {
    const child = spawn(join(out, bin), args, { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${bin} not ready:\n${text}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      const m = ready.exec(text);
      if (m) {
        clearTimeout(timer);
        resolveReady(m);
      }
    });
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.once('exit', (code) => reject(new Error(`${bin} exited (${code}):\n${text}`)));
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'idv-package-'));
  out = join(tmp, 'out');
  await new Promise<void>((done, fail) =>
    execFile(process.execPath, [resolve('scripts/package.mjs'), '--out', out], (err, _o, stderr) =>
      err ? fail(new Error(`npm run package failed: ${stderr}`)) : done(),
    ),
  );
}, 240_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

describe('npm run package', () => {
  it('builds one binary with the sqlite3 addon beside it, a link per program and the helper launcher', () => {
    expect(statSync(join(out, 'idv')).mode & 0o111).not.toBe(0);
    // idv-pam-helper is the small launcher (pam-helper/launcher.c), not a link to the binary.
    expect(lstatSync(join(out, 'idv-pam-helper')).isSymbolicLink()).toBe(false);
    expect(statSync(join(out, 'idv-pam-helper')).size).toBeLessThan(2_000_000);
    expect(existsSync(join(out, 'node_sqlite3.node'))).toBe(true);
    // A login loads only the dispatch and the helper, never the server's bundle.
    const main = readFileSync(join(out, 'build', 'idv.cjs'), 'utf8');
    expect(main).not.toContain('fastify');
    expect(main.length).toBeLessThan(300_000);
  });

  it('answers as every program, by link name and as `idv <program>`', async () => {
    for (const p of ['idv-server', 'idvctl', 'idv-agent', 'idv-pam-helper']) {
      // The binary's node is the one that built it: the one running this test.
      expectVersionLine(p, await ok(p, ['--version']));
      expectVersionLine(p, await ok('idv', [p, '--version']));
    }
    const unknown = await run('idv', ['idv-shell']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown program "idv-shell"');
  });

  it('has a helper that refuses the login when no agent answers', async () => {
    const r = await run(
      'idv-pam-helper',
      ['--authtok', '--timeout', '2', '--socket', join(tmp, 'none.sock')],
      {
        env: { PAM_USER: 'alice', PAM_SERVICE: 'sudo', PAM_TYPE: 'auth' },
        input: '123456',
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain('Verification service unavailable');
  });

  it('carries a real login: server and idvctl, agent registered and running, helper verifying a code', async () => {
    const data = join(tmp, 'server');
    const { adminToken } = JSON.parse(
      await ok('idv-server', ['init', '--data-dir', data, '--json']),
    ) as {
      adminToken: string;
    };
    expect(statSync(join(data, 'master.key')).mode & 0o777).toBe(0o600);
    const m = await startReady(
      'idv-server',
      ['serve', '--data-dir', data, '--listen', '127.0.0.1:0'],
      /idv-server listening on (http:\/\/\S+)/,
    );
    const url = m[1] as string;
    const ctl = (args: string[]) =>
      ok('idvctl', ['--server', url, `--token=${adminToken}`, '--json', ...args]);
    await ctl(['user', 'add', 'alice']);
    const { otpauthUri } = JSON.parse(await ctl(['user', 'enroll', 'alice', '--show-secret'])) as {
      otpauthUri: string;
    };
    const totp = parseOtpauthUri(otpauthUri);
    expect(totp).not.toBeNull();
    const params = totp!.params;
    await ctl(['user', 'confirm', 'alice', generateCode(params, Date.now())]);
    const { token } = JSON.parse(await ctl(['device', 'token', 'create'])) as { token: string };
    const agentData = join(tmp, 'agent');
    await ok('idv-agent', [
      'register',
      '--server',
      url,
      `--token=${token}`,
      '--data-dir',
      agentData,
    ]);
    const socket = join(tmp, 'run', 'agent.sock');
    await startReady(
      'idv-agent',
      ['run', '--data-dir', agentData, '--socket', socket],
      /idv-agent listening on/,
    );

    const env = { PAM_USER: 'alice', PAM_SERVICE: 'sudo', PAM_TYPE: 'auth' };
    const helper = (code: string) =>
      run('idv-pam-helper', ['--authtok', '--socket', socket], { env, input: code });
    // Wait for the first sync to bring alice: before it, the agent does not know her.
    for (let i = 0; i < 100; i++) {
      const st = JSON.parse(
        await ok('idv-agent', ['status', '--json', '--data-dir', agentData, '--socket', socket]),
      ) as { users: number };
      if (st.users >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The next step's code: confirm used this step's, and a code is accepted only once.
    const code = generateCode(params, Date.now() + 30_000);
    const good = await helper(code);
    expect(good.code).toBe(0);
    // The same code again is refused (replay), with the agent's message.
    const replay = await helper(code);
    expect(replay.code).not.toBe(0);
    expect(replay.stdout).toMatch(/Wrong code|attempts left/);

    // The PAM environment cannot reach the binary's node. The binary itself ignores NODE_OPTIONS
    // (sea-config execArgvExtension "none"), but the dynamic linker still obeys LD_PRELOAD and
    // node NODE_V8_COVERAGE (files written where the variable says, as root under pam_exec): those
    // traps are armed against the bare binary, and idv-pam-helper — the launcher pam_exec runs —
    // passes none of them on (docs/pam.md says why the launcher stays).
    const hostile = hostileEnv();
    try {
      const valid = new Set(
        [-1, 0, 1, 2].map((s) => generateCode(params, Date.now() + s * 30_000)),
      );
      const wrong = ['111111', '222222', '333333'].find((c) => !valid.has(c)) as string;
      const bare = (extra: NodeJS.ProcessEnv) =>
        run('idv', ['idv-pam-helper', '--authtok', '--socket', socket], {
          env: { ...env, ...extra },
          input: wrong,
        });
      const ignored = await bare({ NODE_OPTIONS: hostile.env.NODE_OPTIONS });
      expect(ignored.code).toBe(1);
      expect(ignored.stdout).toMatch(/Wrong code/);
      if (hostile.preload)
        expect((await bare({ LD_PRELOAD: hostile.env.LD_PRELOAD })).code).toBe(0);
      const coverage = join(hostile.dir, 'coverage');
      await bare({ NODE_V8_COVERAGE: coverage });
      expect(existsSync(coverage)).toBe(true);
      rmSync(coverage, { recursive: true, force: true });
      const refused = await run('idv-pam-helper', ['--authtok', '--socket', socket], {
        env: { ...env, ...hostile.env, NODE_V8_COVERAGE: coverage },
        input: wrong,
      });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/Wrong code/);
      expect(existsSync(coverage)).toBe(false);
    } finally {
      hostile.remove();
    }
  });
});
