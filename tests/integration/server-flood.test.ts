/**
 * Connections that never authenticate must not exhaust the server. A load generator in its own
 * process (tests/helpers/flood.mjs) opens thousands of sockets from other loopback addresses and
 * holds them: HTTP requests whose headers never end, WebSockets that never say hello. During the
 * flood the server holds no more of them than its caps, /healthz answers, and an agent that had
 * authenticated before still receives a pushed change; the generator is told OVERLOADED (HTTP 503
 * or WebSocket close 4503). Then, while the generator still holds its end, the server's open
 * sockets drop back (header and hello timeouts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi, registerDevice, SimAgent } from '../helpers/sim-agent.js';
import { startServer, type TestServer } from '../helpers/server.js';

const LIMITS = {
  maxConnectionsPerAddress: 20,
  maxPendingConnections: 200,
  maxPendingHellosPerAddress: 5,
  maxPendingHellos: 60,
  headersTimeoutSeconds: 2,
  requestTimeoutSeconds: 4,
  helloTimeoutSeconds: 2,
};
const FLOOD = join(import.meta.dirname, '..', 'helpers', 'flood.mjs');

let server: TestServer;
let agent: SimAgent;
const floods: ChildProcess[] = [];

beforeAll(async () => {
  server = await startServer({ config: LIMITS });
  agent = new SimAgent(server.url, await registerDevice(server));
  await agent.connect();
  await agent.nextSync();
});
afterAll(async () => {
  for (const f of floods) f.kill('SIGKILL');
  await agent?.close();
  await server?.stop();
});

/** Sockets the server process has open now (Linux /proc). */
function serverSockets(): number {
  const dir = `/proc/${server.process().pid}/fd`;
  let n = 0;
  for (const fd of readdirSync(dir)) {
    try {
      if (readlinkSync(join(dir, fd)).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface FloodStats {
  opened: number;
  refused: number;
  failed: number;
  overloaded: number;
}

/** Starts a generator; resolves with its stats once every socket was tried (it keeps holding). */
function flood(mode: 'http' | 'ws', addresses: string[], perAddress: number): Promise<FloodStats> {
  const { hostname, port } = new URL(server.url);
  const child = spawn(
    process.execPath,
    [FLOOD, mode, hostname, port, addresses.join(','), String(perAddress), '90000'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  floods.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0] as string) as FloodStats);
    });
    child.on('exit', (code) => reject(new Error(`flood exited with ${code} before reporting`)));
  });
}

const range = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}${i + 2}`);

describe('a flood of connections that never authenticate', () => {
  it('is capped, answered OVERLOADED, keeps /healthz and agents working, and drains', async () => {
    const baseline = serverSockets();
    // 2,000 half-sent HTTP requests from 20 addresses and 1,000 silent WebSockets from 20 more.
    const [http, ws] = await Promise.all([
      flood('http', range('127.0.2.', 20), 100),
      flood('ws', range('127.0.3.', 20), 50),
    ]);
    // The caps refused (or dropped) most of them, with a reason the client can read: per address
    // 20 of 100 HTTP connections are kept, 5 of 50 WebSockets.
    expect(http.overloaded).toBeGreaterThan(1000);
    expect(ws.overloaded).toBeGreaterThan(500);

    // Held now: no more than the caps (plus the agent, its admin calls and the listener).
    const during = serverSockets();
    expect(during - baseline).toBeLessThanOrEqual(LIMITS.maxPendingConnections + 10);

    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { agents: number }).agents).toBe(1);
    await adminApi(server, 'POST', '/v1/users', { name: 'during-flood' });
    let pushed = false;
    while (!pushed)
      pushed = (await agent.nextSync()).revision > 0 && agent.users.has('during-flood');
    expect(agent.users.has('during-flood')).toBe(true);

    // The generators still hold their ends; the server lets go of them by its timeouts.
    await until('the server to drop the flood', () => serverSockets() <= baseline + 10);
    expect(floods.every((f) => f.exitCode === null)).toBe(true);
  }, 120_000);
});
