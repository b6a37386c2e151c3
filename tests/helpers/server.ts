/**
 * Test helper: a real idv-server process on 127.0.0.1 (port 0), and idvctl as a real process.
 *
 *   const server = await startServer();
 *   const r = await idvctl(server, ['user', 'add', 'alice']);   // --server/--token/--json added
 *   await server.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const SERVER_BIN = join(ROOT, 'bin', 'idv-server');
export const IDVCTL_BIN = join(ROOT, 'bin', 'idvctl');

export interface TestServer {
  url: string;
  adminToken: string;
  dataDir: string;
  /** SIGTERM and wait for exit (graceful). */
  stop(): Promise<void>;
  /** SIGKILL, no waiting. */
  kill(): void;
  /** Stop (if running) and start again on the same data dir, and the same port if free. */
  restart(): Promise<void>;
  /** Everything the server wrote to stdout and stderr so far. */
  logs(): string;
  /** The running process (for exit-code checks). */
  process(): ChildProcess;
}

export interface StartServerOptions {
  dataDir?: string;
  /** Extra config file content (merged over the test defaults). */
  config?: Record<string, unknown>;
  /** Extra `serve` arguments. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** A postgres:// URL (tests/helpers/postgres.ts): init, admin-token and serve get --database. */
  database?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  json: unknown;
}

/** Runs a program to completion. */
export function run(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown = null;
      try {
        json = JSON.parse(stdout.trim().split('\n').pop() ?? '');
      } catch {
        json = null;
      }
      resolvePromise({ code: code ?? -1, stdout, stderr, json });
    });
    child.stdin.end(input);
  });
}

const READY = /^idv-server listening on (https?:\/\/\S+)$/m;

function launch(
  dataDir: string,
  listen: string,
  extra: string[],
  env: NodeJS.ProcessEnv,
  sink: { text: string },
): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      SERVER_BIN,
      ['serve', '--data-dir', dataDir, '--listen', listen, ...extra],
      {
        env: { ...process.env, IDV_LOG_LEVEL: 'debug', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`idv-server did not start in time:\n${sink.text}`));
    }, 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      sink.text += d.toString();
      const m = READY.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, url: m[1] as string });
      }
    });
    child.stderr?.on('data', (d: Buffer) => (sink.text += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`idv-server exited with ${code} before it was ready:\n${sink.text}`));
    });
  });
}

/**
 * Initialises a data dir (a temp one, or `dataDir` when it is not initialised yet) and starts
 * `idv-server serve`; for an initialised `dataDir`, a fresh admin token is added.
 */
export async function startServer(opts: StartServerOptions = {}): Promise<TestServer> {
  const ownDir = opts.dataDir === undefined;
  const base = mkdtempSync(join(tmpdir(), 'idv-server-test-'));
  const dataDir = opts.dataDir ?? join(base, 'data');
  let adminToken = '';
  // master.key: an initialised folder with SQLite (idv.db next to it) or PostgreSQL (a replica's
  // copy, with --database or IDV_DATABASE_URL in `env`).
  const db = opts.database ? ['--database', opts.database] : [];
  if (ownDir || !existsSync(join(dataDir, 'master.key'))) {
    const init = await run(
      SERVER_BIN,
      ['init', '--data-dir', dataDir, ...db, '--json'],
      opts.env ?? {},
    );
    if (init.code !== 0) throw new Error(`idv-server init failed: ${init.stderr}${init.stdout}`);
    adminToken = (init.json as { adminToken: string }).adminToken;
  } else {
    const t = await run(
      SERVER_BIN,
      ['admin-token', 'create', '--data-dir', dataDir, ...db, '--json'],
      opts.env ?? {},
    );
    if (t.code !== 0)
      throw new Error(`idv-server admin-token create failed: ${t.stderr}${t.stdout}`);
    adminToken = (t.json as { adminToken: string }).adminToken;
  }
  const extra = [...db, ...(opts.args ?? [])];
  if (opts.config) {
    const file = join(base, 'config.json');
    writeFileSync(file, JSON.stringify(opts.config));
    extra.push('--config', file);
  }
  const sink = { text: '' };
  let current = await launch(dataDir, '127.0.0.1:0', extra, opts.env ?? {}, sink);
  let running = true;
  current.child.on('exit', () => (running = false));

  const server: TestServer = {
    url: current.url,
    adminToken,
    dataDir,
    logs: () => sink.text,
    process: () => current.child,
    kill: () => {
      if (running) current.child.kill('SIGKILL');
    },
    stop: async () => {
      if (!running) return;
      const exited = new Promise<void>((r) => current.child.once('exit', () => r()));
      current.child.kill('SIGTERM');
      await exited;
    },
    restart: async () => {
      await server.stop();
      const port = new URL(server.url).port;
      try {
        current = await launch(dataDir, `127.0.0.1:${port}`, extra, opts.env ?? {}, sink);
      } catch {
        current = await launch(dataDir, '127.0.0.1:0', extra, opts.env ?? {}, sink);
      }
      running = true;
      current.child.on('exit', () => (running = false));
      server.url = current.url;
    },
  };
  // `base` is always ours (the data dir lives in it unless the caller gave one).
  cleanups.push(() => {
    server.kill();
    rmSync(base, { recursive: true, force: true });
  });
  return server;
}

/**
 * Whatever a test file started is killed and its temp folders removed when the file ends (under
 * vitest), or when the process exits (benchmarks run by tsx).
 */
const cleanups: (() => void)[] = [];
const cleanAll = (): void => {
  for (const c of cleanups.splice(0)) c();
};
process.once('exit', cleanAll);
if (process.env.VITEST) {
  const { afterAll } = await import('vitest');
  afterAll(cleanAll);
}

/**
 * Runs `IDV_TOKEN=T ./bin/idvctl --server URL --json ...args` as a real process (the token in
 * the environment, as the docs advise: an argument would be visible in ps).
 */
export function idvctl(
  server: { url: string; adminToken: string },
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<RunResult> {
  return run(IDVCTL_BIN, ['--server', server.url, '--json', ...args], {
    IDV_TOKEN: server.adminToken,
    ...env,
  });
}
