/** bench:scale's parts: idv-server child processes, simulated fleets, timed windows. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SimAgent,
  adminApi,
  createRegistrationToken,
  registerDevice,
} from '../tests/helpers/sim-agent.js';
import { pool, waitLine } from './common.js';

export const ROOT = join(import.meta.dirname, '..');
/** Servers start without this shell's NODE_EXTRA_CA_CERTS (+30 ms per start) and the like. */
export const SERVER_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() };
/**
 * Extra node options for every idv-server child, e.g. BENCH_SERVER_NODE_ARGS='--cpu-prof
 * --cpu-prof-dir /tmp/prof' to profile the servers (written when a server exits normally).
 */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);

// -- measuring --------------------------------------------------------------------------------

/** CPU seconds a process has used (user + system), from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = execFileSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' })
      .split(') ')[1]
      ?.split(' ');
    return (Number(fields?.[11]) + Number(fields?.[12])) / 100;
  } catch {
    return 0;
  }
}

export interface Window {
  ms: number;
  /** Share of one core the generator (this process) used during the window. */
  generatorCore: number;
}

export async function timed(run: () => Promise<void>): Promise<Window> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { ms, generatorCore: (cpu.user + cpu.system) / 1000 / ms };
}

export const bound = (w: Window[]) =>
  Math.max(...w.map((x) => x.generatorCore)) > 0.8 ? ' (gen)' : '';

// -- servers ----------------------------------------------------------------------------------

const CONFIG = {
  heartbeatSeconds: 600,
  helloTimeoutSeconds: 120,
  logLevel: 'warn',
  // Every simulated agent comes from 127.0.0.1, hundreds connecting at once.
  maxConnectionsPerAddress: 1_000_000,
  maxPendingConnections: 1_000_000,
  maxPendingHellosPerAddress: 1_000_000,
  maxPendingHellos: 1_000_000,
};

export interface IdvProcess {
  url: string;
  child: ChildProcess;
}

export function writeConfig(dir: string): string {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(CONFIG));
  return file;
}

/** Starts `idv-server serve` as a child; resolves once it listens. */
export async function serve(
  dataDir: string,
  configFile: string,
  listen = '127.0.0.1:0',
  extra: string[] = [],
): Promise<IdvProcess> {
  const child = spawn(
    process.execPath,
    [
      ...SERVER_NODE_ARGS,
      join(ROOT, 'bin/idv-server'),
      'serve',
      '--data-dir',
      dataDir,
      '--listen',
      listen,
      '--config',
      configFile,
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: SERVER_ENV },
  );
  const url = (await waitLine(child, /listening on (\S+)\n/))[1] as string;
  return { url, child };
}

/** Fifty users in the view (a realistic snapshot) and `n` registered simulated devices. */
export async function populate(server: { url: string; adminToken: string }, n: number) {
  for (let i = 0; i < 50; i++)
    await adminApi(server, 'POST', '/v1/users', { name: `user${i}`, groups: ['staff'] });
  const token = await createRegistrationToken(server, { uses: n });
  return pool(n, 16, () => registerDevice(server, { token }));
}

export async function connectAll(agents: SimAgent[]): Promise<void> {
  await pool(agents.length, 200, async (i) => {
    const a = agents[i] as SimAgent;
    await a.connect({ validate: false });
    await a.nextSync(120_000);
  });
}
