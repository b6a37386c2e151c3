/**
 * The helper as pam_exec runs it: `./bin/idv-pam-helper --authtok --socket S` with only the
 * fuzzed environment (no PATH, no HOME) and the fuzzed token on stdin, closed after it. The
 * environment holds hostile PAM_* values and the variables an attacker would add: NODE_OPTIONS
 * requiring a script that exits 0, NODE_PATH, IDV_SOCKET naming a fake agent that says `skip`
 * to everything. Exit 0 is a bypass unless alice typed her real code.
 */
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseLoginEnv } from '../../../pam-helper/options.js';
import { generateCode } from '../../../protocol/totp.js';
import { envValue } from '../generators.js';
import type { Outcome, TargetSpec } from '../runner.js';
import { agentWorld, isValidCode } from '../world.js';

export const HELPER_BIN = resolve(import.meta.dirname, '../../../bin/idv-pam-helper');

/** Stands for alice's current code; replaced when the input runs. */
const VALID = '<valid code>';

interface Input {
  env: Record<string, string>;
  stdin: string;
}

function arbitrary(traps: { exit0: string; fakeSocket: string }): fc.Arbitrary<Input> {
  const pam = fc.record(
    {
      PAM_TYPE: envValue(['auth', 'account', 'session', 'password']),
      PAM_USER: envValue(['alice', 'bob', 'root', 'Alice']),
      PAM_SERVICE: envValue(['sudo', 'sshd', 'login', 'su']),
      PAM_TTY: envValue(['ssh', '/dev/pts/0', 'tty1', ':0']),
      PAM_RHOST: envValue(['127.0.0.1', '::1', 'host.example']),
      PAM_RUSER: envValue(['alice', 'root']),
    },
    { requiredKeys: [] },
  );
  const hostile = fc.record(
    {
      NODE_OPTIONS: fc.constantFrom(
        `--require ${traps.exit0}`,
        `--require=${traps.exit0}`,
        `--import ${traps.exit0}`,
        '--inspect=127.0.0.1:0',
        '--max-old-space-size=1',
        '--bogus-flag',
      ),
      NODE_PATH: fc.constantFrom('/tmp', '/nonexistent'),
      NODE_TLS_REJECT_UNAUTHORIZED: fc.constant('0'),
      NODE_EXTRA_CA_CERTS: fc.constant('/nonexistent.pem'),
      NODE_DEBUG: fc.constantFrom('net', 'child_process'),
      IDV_SOCKET: fc.constant(traps.fakeSocket),
      IDV_FAIL_MODE: fc.constant('safe'),
      PATH: fc.constant('/tmp:/usr/bin:/bin'),
      HOME: fc.constant('/tmp'),
    },
    { requiredKeys: [] },
  );
  const stdin = fc.oneof(
    { weight: 1, arbitrary: fc.constant(VALID) },
    { weight: 3, arbitrary: fc.stringMatching(/^[0-9]{6}$/) },
    { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{6}\n$/) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/) },
    { weight: 1, arbitrary: fc.constantFrom('', '\n', ' 123 456 ', '0'.repeat(5000)) },
    { weight: 2, arbitrary: fc.string({ maxLength: 100 }) },
  );
  return fc.record({ env: fc.tuple(pam, hostile).map(([a, b]) => ({ ...a, ...b })), stdin });
}

function runHelper(
  args: string[],
  env: Record<string, string>,
  stdin: string,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(HELPER_BIN, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', fail);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

export const helperTarget: TargetSpec = {
  name: 'helper (stdin + env)',
  what: 'the helper under a fuzzed PAM environment and token; bypass: exit 0 without alice’s code',
  async start() {
    const w = await agentWorld();
    const dir = mkdtempSync(join(tmpdir(), 'idv-fuzz-helper-'));
    const exit0 = join(dir, 'exit0.cjs');
    writeFileSync(exit0, 'process.exit(0);\n');
    // A fake agent: whoever talks to it hears `skip` (let in without a code).
    const fakeSocket = join(dir, 'fake.sock');
    const fake = net.createServer((s) => {
      s.on('error', () => undefined);
      s.on('data', () => s.write('{"type":"skip"}\n'));
    });
    await new Promise<void>((r) => fake.listen(fakeSocket, r));
    const args = ['--authtok', '--socket', w.world.agent.socket, '--timeout', '5'];
    return {
      arbitrary: arbitrary({ exit0, fakeSocket }),
      concurrency: 4,
      hangMs: 40_000,
      async run(input: Input): Promise<Outcome> {
        const code = generateCode(w.alice, Date.now());
        const stdin = input.stdin === VALID ? code : input.stdin;
        const r = await runHelper(args, input.env, stdin);
        const login = parseLoginEnv(input.env);
        // The agent matches names case-insensitively (exact first): ALICE logs in as alice.
        const isAlice = login.ok && login.value.user.toLowerCase() === 'alice';
        // A login of alice may count a failure or consume a code: entitled to change state.
        const outcome: Outcome = { changes: isAlice };
        if (r.signal || (r.code !== 0 && r.code !== 1))
          outcome.crash = `exit ${r.code ?? r.signal}: ${(r.stdout + r.stderr).slice(0, 200)}`;
        else if (/internal error/.test(r.stderr))
          outcome.crash = `internal error: ${r.stderr.slice(0, 200)}`;
        if (r.code === 0) {
          const legit = isAlice && isValidCode(w.alice, stdin.trim());
          if (!legit) outcome.bypass = `exit 0: ${r.stdout.slice(0, 120)}`;
        }
        return outcome;
      },
      state: () => w.state(),
      alive: () => w.alive(),
      async stop() {
        await new Promise<void>((r) => fake.close(() => r()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
