/**
 * bench:push — time from one admin API policy change until every connected agent has the delta
 * and acked it, versus a bare `ws` broadcast of the same bytes to the same number of clients;
 * and server RSS growth per connected agent versus a bare idle ws connection.
 *
 * Everything runs in one process tree: this process is the load generator (N simulated agents
 * doing the real Ed25519 handshake, applying and acking), the idv-server under test is a real
 * child process (./bin/idv-server serve), and the bare baseline is a child process running a
 * plain `ws` server with the same options (perMessageDeflate off). Both servers are measured the
 * same way, client-side: until the last client has received the message and sent its ack.
 *
 *   npm run bench:push                   # N = 1000 and 5000, 5 rounds each
 *   npm run bench:push -- 200 --rounds 3
 *   npm run bench:push -- 1000 --signed  # agents that verify signed policy (the server signs)
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { median, pool, settledRss, sleep, stopChild, waitLine } from './common.js';
import {
  SimAgent,
  adminApi,
  createRegistrationToken,
  registerDevice,
  type Identity,
} from '../tests/helpers/sim-agent.js';

const args = process.argv.slice(2);
const roundsAt = args.indexOf('--rounds');
/** --signed: the simulated agents ask for signed policy (hello nonce), as real agents do. */
const SIGNED = args.includes('--signed');
const ROUNDS = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 5;
const SIZES = args.filter((a, i) => /^[0-9]+$/.test(a) && args[i - 1] !== '--rounds').map(Number);
const NS = SIZES.length ? SIZES : [1000, 5000];
const ROOT = join(import.meta.dirname, '..');

// ---------------------------------------------------------------------------------------------

interface Result {
  n: number;
  pushMs: number[];
  bareMs: number[];
  /** RSS growth / N, and the growth over the second half of the connections / (N/2). */
  idvKb: { total: number; marginal: number };
  bareKb: { total: number; marginal: number };
  messageBytes: number;
}

interface Side {
  /** One timed round: from the trigger until every client has the message and has acked. */
  round(r: number): Promise<number>;
  kb: { total: number; marginal: number };
  stop(): Promise<void>;
}

/** Connects `n` clients in two halves and measures the server's RSS before, between and after. */
async function connectMeasured(
  pid: number,
  n: number,
  connect: (i: number) => Promise<void>,
): Promise<{ total: number; marginal: number }> {
  const before = await settledRss(pid);
  const half = Math.floor(n / 2);
  await pool(half, 200, connect);
  const middle = await settledRss(pid);
  await pool(n - half, 200, (i) => connect(half + i));
  const after = await settledRss(pid);
  return { total: (after - before) / n, marginal: (after - middle) / (n - half) };
}

async function setupIdv(n: number): Promise<Side & { payload: string }> {
  const base = mkdtempSync(join(tmpdir(), 'idv-bench-'));
  const dataDir = join(base, 'data');
  const init = execFileSync(
    join(ROOT, 'bin/idv-server'),
    ['init', '--data-dir', dataDir, '--json'],
    {
      encoding: 'utf8',
    },
  );
  const adminToken = (JSON.parse(init) as { adminToken: string }).adminToken;
  const configFile = join(base, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      heartbeatSeconds: 600,
      helloTimeoutSeconds: 120,
      logLevel: 'warn',
      // Every simulated agent comes from 127.0.0.1, 200 connecting at once.
      maxConnectionsPerAddress: 4096,
      maxPendingHellosPerAddress: 1024,
    }),
  );
  // BENCH_SERVER_PROF=DIR writes a V8 CPU profile of the server (for finding hot spots).
  const prof = process.env.BENCH_SERVER_PROF
    ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_SERVER_PROF]
    : [];
  const child = spawn(
    process.execPath,
    [
      ...prof,
      join(ROOT, 'bin/idv-server'),
      'serve',
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      '--config',
      configFile,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = (await waitLine(child, /listening on (\S+)\n/))[1] as string;
  const server = { url, adminToken };
  // A realistic view: 50 users in the device group's view.
  for (let i = 0; i < 50; i++)
    await adminApi(server, 'POST', '/v1/users', { name: `user${i}`, groups: ['staff'] });
  const token = await createRegistrationToken(server, { uses: n });
  const ids: Identity[] = await pool(n, 16, () => registerDevice(server, { token }));
  const agents = ids.map((id) => new SimAgent(url, id));
  const kb = await connectMeasured(child.pid as number, n, async (i) => {
    const a = agents[i] as SimAgent;
    await a.connect({ validate: false, signed: SIGNED });
    await a.nextSync(120_000);
  });
  let received = 0;
  let onAll: (() => void) | null = null;
  const side = {
    payload: '',
    kb,
    round: async (r: number) => {
      received = 0;
      const all = new Promise<void>((resolve) => (onAll = resolve));
      const t0 = performance.now();
      await adminApi(server, 'PATCH', '/v1/policies/default', { maxAttempts: 3 + (r % 2) });
      await all;
      return performance.now() - t0;
    },
    stop: async () => {
      await Promise.all(agents.map((a) => a.close()));
      await stopChild(child);
      rmSync(base, { recursive: true, force: true });
    },
  };
  for (const a of agents) {
    a.onSync = (m) => {
      if (side.payload === '') side.payload = JSON.stringify(m);
      if (++received === n) onAll?.();
    };
  }
  return side;
}

const BARE_SERVER = `
import { WebSocketServer } from 'ws';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1024 * 1024 });
const clients = new Set();
wss.on('connection', (ws) => { clients.add(ws); ws.on('message', () => {}); ws.on('close', () => clients.delete(ws)); });
wss.on('listening', () => console.log('bare listening on ' + wss.address().port));
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
    for (const ws of clients) ws.send(line);
  }
});
`;

async function setupBare(n: number, payload: () => string): Promise<Side> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', BARE_SERVER], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = (await waitLine(child, /bare listening on (\d+)\n/))[1] as string;
  let received = 0;
  let onAll: (() => void) | null = null;
  const sockets: WebSocket[] = [];
  const kb = await connectMeasured(child.pid as number, n, async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    ws.on('message', (data) => {
      // The same client work as a simulated agent: parse, ack.
      const msg = JSON.parse(data.toString()) as { revision: number };
      ws.send(JSON.stringify({ type: 'ack', revision: msg.revision }));
      if (++received === n) onAll?.();
    });
    await new Promise((r) => ws.once('open', r));
    sockets.push(ws);
  });
  return {
    kb,
    round: async () => {
      received = 0;
      const all = new Promise<void>((resolve) => (onAll = resolve));
      const t0 = performance.now();
      child.stdin?.write(`${payload()}\n`);
      await all;
      return performance.now() - t0;
    },
    stop: async () => {
      for (const ws of sockets) ws.terminate();
      await stopChild(child);
    },
  };
}

/** Both servers up with N clients each; rounds alternate push / bare so load noise hits both. */
async function benchSize(n: number): Promise<Result> {
  process.stderr.write(`N=${n}: starting idv-server, registering and connecting ${n} agents...\n`);
  const idv = await setupIdv(n);
  process.stderr.write(`N=${n}: starting the bare ws server, connecting ${n} clients...\n`);
  const bare = await setupBare(n, () => idv.payload);
  const pushMs: number[] = [];
  const bareMs: number[] = [];
  try {
    for (let r = 0; r < ROUNDS + 1; r++) {
      const p = await idv.round(r);
      // Let both sides go quiet (the server writes acked revisions once a second).
      await sleep(1500);
      const b = await bare.round(r);
      await sleep(1500);
      if (r > 0) {
        // round 0 warms up JIT and caches
        pushMs.push(p);
        bareMs.push(b);
      }
    }
  } finally {
    await bare.stop();
    await idv.stop();
  }
  return {
    n,
    pushMs,
    bareMs,
    idvKb: idv.kb,
    bareKb: bare.kb,
    messageBytes: Buffer.byteLength(idv.payload),
  };
}

async function main(): Promise<void> {
  const limit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  const results: Result[] = [];
  for (const n of NS) {
    // This process holds 2n client sockets (idv and bare side by side), each server n: headroom.
    if (Number.isFinite(limit) && limit < 2 * n + 256) {
      console.log(
        `skipping N=${n}: ulimit -n is ${limit}; raise it (ulimit -n ${n * 2 + 1024}) to run this size`,
      );
      continue;
    }
    results.push(await benchSize(n));
  }
  const rows = results.map((r) => {
    const p = median(r.pushMs);
    const b = median(r.bareMs);
    return [
      String(r.n),
      String(r.messageBytes),
      p.toFixed(1),
      b.toFixed(1),
      (p / b).toFixed(2),
      `${r.idvKb.total.toFixed(1)} / ${r.idvKb.marginal.toFixed(1)}`,
      `${r.bareKb.total.toFixed(1)} / ${r.bareKb.marginal.toFixed(1)}`,
      `${(r.idvKb.total / r.bareKb.total).toFixed(2)} / ${(r.idvKb.marginal / r.bareKb.marginal).toFixed(2)}`,
    ];
  });
  const head = [
    'N',
    'msg bytes',
    'push→all acked ms',
    'bare broadcast ms',
    'push/bare',
    'server KB/agent (all / 2nd half)',
    'bare KB/conn (all / 2nd half)',
    'mem ratio (all / 2nd half)',
  ];
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] as string).length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padStart(widths[i] as number)).join(' | ')} |`;
  console.log(
    `bench:push — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; medians of ${ROUNDS} rounds after 1 warm-up, push and bare rounds alternating`,
  );
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log('targets: push/bare <= 1.5 at N=5000; mem ratio <= 2');
  for (const r of results)
    console.log(
      `N=${r.n} rounds (ms): push ${r.pushMs.map((x) => x.toFixed(0)).join(' ')} | bare ${r.bareMs.map((x) => x.toFixed(0)).join(' ')}`,
    );
}

await main();
