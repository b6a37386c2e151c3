/**
 * Test helper: a real idv-agent process, registered with a real idv-server (tests/helpers/server.ts),
 * answering on a temporary socket.
 *
 *   const server = await startServer();
 *   const { totp } = await addEnrolledUser(server, 'alice');
 *   const agent = await startAgent({ server, policy: { maxAttempts: 3 } });
 *   const [r1, r2] = await askAgent(agent.socket, [begin('alice'), { type: 'verify', code }]);
 *   await agent.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TotpParams } from '../../protocol/messages.js';
import type { Policy } from '../../protocol/policy.js';
import { parseOtpauthUri, generateCode } from '../../protocol/totp.js';
import { formatDuration } from '../../protocol/duration.js';
import { idvctl, run, type RunResult } from './server.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const AGENT_BIN = join(ROOT, 'bin', 'idv-agent');

interface ServerLike {
  url: string;
  adminToken: string;
}

export interface TestAgent {
  socket: string;
  dataDir: string;
  deviceId: string;
  /** SIGTERM, wait for the exit, and remove the temp dir (final; use kill('SIGTERM') to pause). */
  stop(): Promise<void>;
  /** Send a signal (default SIGKILL) and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Start `idv-agent run` again on the same data dir and socket (after stop/kill); `env` is added
   * over the start options' env for this run only.
   */
  restart(env?: NodeJS.ProcessEnv): Promise<void>;
  logs(): string;
  process(): ChildProcess;
  /** `idv-agent <args> --data-dir D --socket S` as a real process. */
  cli(args: string[]): Promise<RunResult>;
}

export interface StartAgentOptions {
  server: ServerLike;
  /** Register with these URLs (`--server` repeated, in order) instead of `server.url` alone. */
  servers?: string[];
  /** Set for the device group before registering (through `idvctl policy set`). */
  policy?: Partial<Policy>;
  deviceGroup?: string;
  name?: string;
  /** Extra agent.json fields (heartbeatSeconds, backoffBaseMs, backoffCapMs). */
  agentConfig?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /**
   * The agent program and its leading arguments, for register, run and the CLI (default
   * ./bin/idv-agent): another build, such as an arm64 binary under qemu-user.
   */
  agentCommand?: readonly string[];
}

/** The `idvctl policy set` flags for a partial policy. */
export function policyFlags(p: Partial<Policy>): string[] {
  const f: string[] = [];
  const add = (flag: string, v: string) => f.push(`--${flag}`, v);
  if (p.mfa !== undefined) add('mfa', p.mfa);
  if (p.userGroups !== undefined) add('user-groups', p.userGroups.join(','));
  if (p.services !== undefined) add('services', p.services.join(','));
  if (p.maxAttempts !== undefined) add('max-attempts', String(p.maxAttempts));
  if (p.lockoutSeconds !== undefined) add('lockout', formatDuration(p.lockoutSeconds));
  if (p.window !== undefined) add('window', String(p.window));
  if (p.offlineMaxAgeSeconds !== undefined)
    add('offline-max-age', formatDuration(p.offlineMaxAgeSeconds));
  if (p.failMode !== undefined) add('fail-mode', p.failMode);
  if (p.exemptUsers !== undefined) add('exempt', p.exemptUsers.join(','));
  if (p.enrollmentGraceDays !== undefined) add('enrollment-grace', `${p.enrollmentGraceDays}d`);
  if (p.prompts !== undefined) add('prompts', String(p.prompts));
  if (p.unknownUsers !== undefined) add('unknown-users', p.unknownUsers);
  if (p.accountMaxFailures !== undefined) add('account-max-failures', String(p.accountMaxFailures));
  if (p.selfUnlock !== undefined) add('self-unlock', p.selfUnlock ? 'on' : 'off');
  if (p.trustedNetworks !== undefined) add('trusted-networks', p.trustedNetworks.join(','));
  if (p.rememberSeconds !== undefined) add('remember', formatDuration(p.rememberSeconds));
  return f;
}

async function must(r: Promise<RunResult>, what: string): Promise<RunResult> {
  const res = await r;
  if (res.code !== 0) throw new Error(`${what} failed (${res.code}): ${res.stdout}${res.stderr}`);
  return res;
}

/** `idvctl policy set` for a device group. */
export async function setPolicy(
  server: ServerLike,
  policy: Partial<Policy>,
  deviceGroup = 'default',
): Promise<void> {
  await must(
    idvctl(server, ['policy', 'set', '--device-group', deviceGroup, ...policyFlags(policy)]),
    'policy set',
  );
}

/** Adds a user, enrolls and confirms an authenticator; returns the TOTP parameters. */
export async function addEnrolledUser(
  server: ServerLike,
  name: string,
  groups: string[] = [],
): Promise<{ totp: TotpParams }> {
  await must(
    idvctl(server, ['user', 'add', name, ...groups.flatMap((g) => ['--group', g])]),
    'user add',
  );
  const totp = await enroll(server, name);
  return { totp };
}

/** Enrolls (or re-enrolls after reset-mfa) and confirms with a valid code. */
export async function enroll(server: ServerLike, name: string): Promise<TotpParams> {
  const e = await must(idvctl(server, ['user', 'enroll', name, '--show-secret']), 'user enroll');
  const parsed = parseOtpauthUri((e.json as { otpauthUri: string }).otpauthUri);
  if (!parsed) throw new Error('enroll gave no valid otpauth URI');
  await must(
    idvctl(server, ['user', 'confirm', name, generateCode(parsed.params, Date.now())]),
    'user confirm',
  );
  return parsed.params;
}

/** A fresh code for now (or for `at`). */
export function codeFor(totp: TotpParams, at = Date.now()): string {
  return generateCode(totp, at);
}

/** `idv-agent register --json` with this token, as a real process (it may be refused). */
export function runRegister(
  server: { url: string },
  dataDir: string,
  token: string,
  opts: { name?: string; servers?: string[]; command?: readonly string[] } = {},
): Promise<RunResult> {
  const [bin, ...pre] = opts.command ?? [AGENT_BIN];
  return run(bin as string, [
    ...pre,
    'register',
    '--json',
    ...(opts.servers ?? [server.url]).flatMap((url) => ['--server', url]),
    `--token=${token}`,
    '--data-dir',
    dataDir,
    ...(opts.name ? ['--name', opts.name] : []),
  ]);
}

/** Creates a registration token and runs `idv-agent register`. */
export async function registerAgent(
  server: ServerLike,
  dataDir: string,
  opts: {
    deviceGroup?: string;
    name?: string;
    servers?: string[];
    command?: readonly string[];
  } = {},
): Promise<string> {
  const t = await must(
    idvctl(server, [
      'device',
      'token',
      'create',
      ...(opts.deviceGroup ? ['--device-group', opts.deviceGroup] : []),
    ]),
    'device token create',
  );
  const token = (t.json as { token: string }).token;
  const r = await must(runRegister(server, dataDir, token, opts), 'idv-agent register');
  return (r.json as { deviceId: string }).deviceId;
}

const READY = /^idv-agent listening on (.+)$/m;

export async function startAgent(opts: StartAgentOptions): Promise<TestAgent> {
  const base = mkdtempSync(join(tmpdir(), 'idv-agent-test-'));
  const dataDir = join(base, 'data');
  const socket = join(base, 'run', 'agent.sock');
  if (opts.policy) await setPolicy(opts.server, opts.policy, opts.deviceGroup ?? 'default');
  const deviceId = await registerAgent(opts.server, dataDir, {
    ...(opts.deviceGroup ? { deviceGroup: opts.deviceGroup } : {}),
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.servers ? { servers: opts.servers } : {}),
    ...(opts.agentCommand ? { command: opts.agentCommand } : {}),
  });
  const [bin, ...pre] = (opts.agentCommand ?? [AGENT_BIN]) as [string, ...string[]];
  // Fast reconnects for tests (the production defaults are 0.5 s base, 30 s cap).
  const file = join(dataDir, 'agent.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(
    file,
    JSON.stringify({ ...cfg, backoffBaseMs: 100, backoffCapMs: 1000, ...opts.agentConfig }),
    { mode: 0o600 },
  );

  const sink = { text: '' };
  let child: ChildProcess;
  let exited: Promise<void>;
  const launch = (env: NodeJS.ProcessEnv = {}) =>
    new Promise<void>((resolvePromise, reject) => {
      child = spawn(bin, [...pre, 'run', '--data-dir', dataDir, '--socket', socket], {
        env: { ...process.env, IDV_LOG_LEVEL: 'debug', ...opts.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      exited = new Promise((r) => child.once('exit', () => r()));
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`idv-agent did not start in time:\n${sink.text}`));
      }, 60_000);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        sink.text += d.toString();
        if (READY.test(out)) {
          clearTimeout(timer);
          resolvePromise();
        }
      });
      child.stderr?.on('data', (d: Buffer) => (sink.text += d.toString()));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(`idv-agent exited (${code ?? signal}) before it was ready:\n${sink.text}`),
        );
      });
    });
  await launch();
  const running = () => child.exitCode === null && child.signalCode === null;

  const agent: TestAgent = {
    socket,
    dataDir,
    deviceId,
    logs: () => sink.text,
    process: () => child,
    stop: async () => {
      if (running()) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(base, { recursive: true, force: true });
    },
    kill: async (signal = 'SIGKILL') => {
      if (!running()) return;
      child.kill(signal);
      await exited;
    },
    restart: async (env) => {
      await agent.kill('SIGTERM');
      await launch(env);
    },
    cli: (args) => run(bin, [...pre, ...args, '--data-dir', dataDir, '--socket', socket]),
  };
  process.once('exit', () => {
    if (running()) child.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  });
  return agent;
}

/** One connection; sends each request as a line and collects one reply per request. */
export function askAgent(
  socket: string,
  requests: object[],
  timeoutMs = 10_000,
): Promise<Record<string, unknown>[]> {
  return new Promise((resolvePromise, reject) => {
    const replies: Record<string, unknown>[] = [];
    let buffer = '';
    const s = net.connect(socket);
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new Error(`askAgent: ${replies.length}/${requests.length} replies after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on('connect', async () => {
      // One request at a time, as the helper does: the next line goes after the previous reply.
      for (const r of requests) s.write(`${JSON.stringify(r)}\n`);
    });
    s.on('data', (d: Buffer) => {
      buffer += d.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        replies.push(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
        buffer = buffer.slice(nl + 1);
      }
      if (replies.length >= requests.length) {
        clearTimeout(timer);
        s.end();
        resolvePromise(replies);
      }
    });
    s.on('close', () => {
      if (replies.length < requests.length) {
        clearTimeout(timer);
        reject(
          new Error(
            `askAgent: connection closed after ${replies.length}/${requests.length} replies`,
          ),
        );
      }
    });
  });
}

/** A `begin` request. */
export function begin(
  user: string,
  service = 'sudo',
  extra: { rhost?: string; tty?: string } = {},
): object {
  return { type: 'begin', v: 1, user, service, ...extra };
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(
  fn: () => Promise<T> | T,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until the agent's local socket holds exactly `connections` connections besides the one
 * asking (status `localSocket`): clients a test closed are gone on the agent's side too, so the
 * next connection is judged on the slots the test means, not on ones still being torn down.
 */
export async function waitForLocalSocket(
  socket: string,
  connections: number,
  timeoutMs = 60_000,
): Promise<{ connections: number; prompts: Record<string, number> }> {
  return waitFor(
    async () => {
      const [r] = await askAgent(socket, [{ type: 'status', v: 1 }]);
      const load = r?.localSocket as { connections: number; prompts: Record<string, number> };
      return load?.connections === connections ? load : null;
    },
    `${connections} other connections on the agent's socket`,
    timeoutMs,
  );
}

/** `idv-agent status --json` of a test agent. */
export async function agentStatus(agent: TestAgent): Promise<{
  connected: boolean;
  revision: number;
  users: number;
  lastSyncAt: string | null;
  locked: string[];
  outbox: number;
  revoked: boolean;
  running: boolean;
}> {
  const r = await agent.cli(['status', '--json']);
  if (r.code !== 0) throw new Error(`status failed: ${r.stdout}${r.stderr}`);
  return r.json as never;
}

/** Waits until `idv-agent status` says the agent is (or is no longer) connected to its server. */
export function waitConnected(agent: TestAgent, want: boolean): Promise<unknown> {
  return waitFor(
    async () => (await agentStatus(agent)).connected === want,
    `connected=${want}`,
    15_000,
  );
}
