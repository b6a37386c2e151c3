/**
 * bench:scale — replicas and fleets, from one run:
 *
 *  (1) push from one admin API change until every agent has acked, with the agents split over two
 *      replicas on one PostgreSQL (the change taken by replica A, half the agents on B), next to
 *      the same push with every agent on A (target cross/same ≤ 1.2 at N = 5,000);
 *  (2) a reconnect storm: N agents whose server is killed (-9) and started again, time until all
 *      have re-synced, next to N bare `ws` clients reconnecting to a bare ws server killed and
 *      started the same way, both with the agent's own backoff (target ≤ 2 at N = 10,000);
 *  (3) server RSS per connected agent at N next to a bare idle ws connection (target ≤ 1.5).
 *
 * This process is the load generator (simulated agents doing the real Ed25519 handshake and
 * acking, tests/helpers/sim-agent.ts); every server is a child process of its own. The generator's
 * CPU time is measured in each timed window: above 80 % of a core it, not the server, is the
 * bottleneck, and the table says so.
 *
 *   npm run bench:scale                          # N = 5,000 for (1), 10,000 for (2) and (3)
 *   npm run bench:scale -- --push-n 1000 --storm-n 2000 --rounds 3
 *   npm run bench:scale -- --skip-push           # (2) and (3) only (no PostgreSQL needed)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { backoffDelay, DEFAULT_BACKOFF } from '../agent/controlclient/backoff.js';
import { SimAgent } from '../tests/helpers/sim-agent.js';
import { median, pool, settledRss, sleep, stopChild, waitLine } from './common.js';
import {
  bound,
  connectAll,
  cpuSeconds,
  populate,
  ROOT,
  serve,
  SERVER_ENV,
  timed,
  writeConfig,
  type Window,
} from './fleet.js';
import { startPushCluster } from './scale-pg.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const PUSH_N = flag('--push-n', 5000);
const STORM_N = flag('--storm-n', 10_000);
const ROUNDS = flag('--rounds', 5);
const SKIP_PUSH = args.includes('--skip-push');

/**
 * Keeps a simulated agent connected the way idv-agent does: after a drop it retries with the
 * agent's backoff (full jitter) until a connection delivers its first sync.
 */
function reconnecting(
  connect: () => Promise<{ synced: Promise<void>; closed: Promise<unknown> }>,
): Promise<number> {
  return (async () => {
    for (let attempt = 0; ; attempt++) {
      await sleep(backoffDelay(attempt, DEFAULT_BACKOFF));
      try {
        const c = await connect();
        const r = await Promise.race([c.synced.then(() => 'synced'), c.closed.then(() => 'gone')]);
        if (r === 'synced') return attempt + 1;
      } catch {
        // refused: the server is not back yet
      }
    }
  })();
}

/** How many attempts the reconnecting clients needed: median and the most. */
function attemptsText(xs: number[]): string {
  return `${median(xs)} / ${Math.max(...xs)}`;
}

/** Resolves on the agent's next snapshot/delta (replacing its counting hook). */
function nextSyncOf(a: SimAgent): Promise<void> {
  return new Promise((resolve) => {
    a.onSync = () => {
      a.onSync = null;
      resolve();
    };
  });
}

// -- (2) + (3) on idv -------------------------------------------------------------------------

interface StormResult {
  n: number;
  kbPerConn: number;
  storm: Window;
  serverCpu: number;
  /** Attempts each client needed to re-sync. */
  attempts: number[];
  /** From the kill until the new process listened. */
  downMs: number;
}

async function idvStorm(n: number): Promise<StormResult> {
  const base = mkdtempSync(join(tmpdir(), 'idv-bench-scale-'));
  const dataDir = join(base, 'data');
  const init = execFileSync(
    process.execPath,
    [join(ROOT, 'bin/idv-server'), 'init', '--data-dir', dataDir, '--json'],
    { encoding: 'utf8', env: SERVER_ENV },
  );
  const adminToken = (JSON.parse(init) as { adminToken: string }).adminToken;
  const configFile = writeConfig(base);
  let server = await serve(dataDir, configFile);
  const agents: SimAgent[] = [];
  try {
    process.stderr.write(`storm: registering ${n} devices...\n`);
    const ids = await populate({ url: server.url, adminToken }, n);
    for (const id of ids) agents.push(new SimAgent(server.url, id));
    const before = await settledRss(server.child.pid as number);
    process.stderr.write(`storm: connecting ${n} agents...\n`);
    await connectAll(agents);
    const after = await settledRss(server.child.pid as number);
    const listen = new URL(server.url).host;
    process.stderr.write(`storm: kill -9 and restart with ${n} agents connected...\n`);
    let cpu = 0;
    let attempts: number[] = [];
    let downMs = 0;
    const storm = await timed(async () => {
      const back = agents.map((a) =>
        a.closed.then(() =>
          reconnecting(async () => {
            const synced = nextSyncOf(a);
            await a.connect({ validate: false });
            if (a.ws?.readyState !== WebSocket.OPEN) throw new Error('not connected');
            return { synced, closed: a.closed };
          }),
        ),
      );
      server.child.kill('SIGKILL');
      await new Promise((r) => server.child.once('exit', r));
      const tKill = performance.now();
      server = await serve(dataDir, configFile, listen);
      downMs = performance.now() - tKill;
      attempts = await Promise.all(back);
      cpu = cpuSeconds(server.child.pid as number);
    });
    return { n, kbPerConn: (after - before) / n, storm, serverCpu: cpu, attempts, downMs };
  } finally {
    await Promise.all(agents.map((a) => a.close()));
    await stopChild(server.child);
    rmSync(base, { recursive: true, force: true });
  }
}

// -- (2) + (3) on bare ws ---------------------------------------------------------------------

/** A bare ws server doing what the protocol's first exchange does: challenge, hello, a sync. */
const BARE_SERVER = `
import { WebSocketServer } from 'ws';
const port = Number(process.argv[1] || 0);
const sync = JSON.stringify({ type: 'snapshot', revision: 1, users: Array.from({ length: 50 }, (_, i) => ({ name: 'user' + i })) });
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, maxPayload: 1024 * 1024, clientTracking: false });
wss.on('connection', (ws) => {
  ws.send(JSON.stringify({ type: 'challenge', nonce: 'x'.repeat(43) }));
  ws.on('message', (m) => { if (JSON.parse(m.toString()).type === 'hello') ws.send(sync); });
});
wss.on('listening', () => console.log('bare listening on ' + wss.address().port));
`;

async function bareServer(port = 0): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', BARE_SERVER, String(port)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: SERVER_ENV,
  });
  return { child, port: Number((await waitLine(child, /bare listening on (\d+)\n/))[1]) };
}

/** One bare client: answers the challenge with a hello, acks the sync. */
function bareConnect(
  port: number,
): Promise<{ ws: WebSocket; synced: Promise<void>; closed: Promise<unknown> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  const closed = new Promise((r) => ws.once('close', r));
  const synced = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { type: string; revision?: number };
      if (msg.type === 'challenge')
        ws.send(JSON.stringify({ type: 'hello', signature: 'x'.repeat(86) }));
      else {
        ws.send(JSON.stringify({ type: 'ack', revision: msg.revision }));
        resolve();
      }
    });
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, synced, closed }));
    ws.once('error', reject);
  });
}

async function bareStorm(n: number): Promise<StormResult> {
  let server = await bareServer();
  const clients: { ws: WebSocket; closed: Promise<unknown> }[] = [];
  try {
    const before = await settledRss(server.child.pid as number);
    await pool(n, 200, async () => {
      const c = await bareConnect(server.port);
      await c.synced;
      clients.push(c);
    });
    const after = await settledRss(server.child.pid as number);
    let cpu = 0;
    let attempts: number[] = [];
    let downMs = 0;
    const live: WebSocket[] = [];
    const storm = await timed(async () => {
      const back = clients.map((c) =>
        c.closed.then(() =>
          reconnecting(async () => {
            const next = await bareConnect(server.port);
            live.push(next.ws);
            return next;
          }),
        ),
      );
      server.child.kill('SIGKILL');
      await new Promise((r) => server.child.once('exit', r));
      const tKill = performance.now();
      server = await bareServer(server.port);
      downMs = performance.now() - tKill;
      attempts = await Promise.all(back);
      cpu = cpuSeconds(server.child.pid as number);
    });
    for (const ws of live) ws.terminate();
    return { n, kbPerConn: (after - before) / n, storm, serverCpu: cpu, attempts, downMs };
  } finally {
    for (const c of clients) c.ws.terminate();
    await stopChild(server.child);
  }
}

// -- report -----------------------------------------------------------------------------------

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padStart(widths[i] as number)).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const out: string[] = [];
  out.push(
    `bench:scale — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average at start ${loadavg()[0]?.toFixed(1)}; generator = this process, every server its own process; "(gen)" = the generator used > 80 % of a core in that window (it, not the server, may be the bottleneck)`,
  );
  if (!SKIP_PUSH) {
    process.stderr.write(`push: PostgreSQL, two replicas, ${PUSH_N} agents...\n`);
    const push = await startPushCluster(PUSH_N, ROUNDS);
    if (typeof push === 'string') out.push(`(1) skipped: ${push}`);
    else {
      const same = median(push.same.map((w) => w.ms));
      const cross = median(push.cross.map((w) => w.ms));
      out.push(
        '',
        `(1) push: one API change on replica A until all ${PUSH_N} agents acked; medians of ${ROUNDS} rounds after 1 warm-up`,
        table(
          ['N', 'all on A ms', 'half on B ms', 'cross/same', 'target'],
          [
            [
              String(PUSH_N),
              `${same.toFixed(1)}${bound(push.same)}`,
              `${cross.toFixed(1)}${bound(push.cross)}`,
              (cross / same).toFixed(2),
              '≤ 1.2',
            ],
          ],
        ),
        `rounds (ms): same ${push.same.map((w) => w.ms.toFixed(0)).join(' ')} | cross ${push.cross.map((w) => w.ms.toFixed(0)).join(' ')}`,
      );
    }
  }
  process.stderr.write(`storm: idv-server with ${STORM_N} agents...\n`);
  const idv = await idvStorm(STORM_N);
  process.stderr.write(`storm: bare ws with ${STORM_N} clients...\n`);
  const bare = await bareStorm(STORM_N);
  out.push(
    '',
    `(2) reconnect storm: kill -9 and restart the server with ${STORM_N} connected, until all re-synced (agent backoff: full jitter, base ${DEFAULT_BACKOFF.baseMs} ms); (3) server RSS per connection`,
    table(
      [
        'N',
        'idv storm ms',
        'bare storm ms',
        'storm ratio',
        'down ms idv / bare',
        'attempts med / max idv; bare',
        'server CPU s idv / bare',
        'idv KB/agent',
        'bare KB/conn',
        'mem ratio',
      ],
      [
        [
          String(STORM_N),
          `${idv.storm.ms.toFixed(0)}${bound([idv.storm])}`,
          `${bare.storm.ms.toFixed(0)}${bound([bare.storm])}`,
          (idv.storm.ms / bare.storm.ms).toFixed(2),
          `${idv.downMs.toFixed(0)} / ${bare.downMs.toFixed(0)}`,
          `${attemptsText(idv.attempts)}; ${attemptsText(bare.attempts)}`,
          `${idv.serverCpu.toFixed(2)} / ${bare.serverCpu.toFixed(2)}`,
          idv.kbPerConn.toFixed(1),
          bare.kbPerConn.toFixed(1),
          (idv.kbPerConn / bare.kbPerConn).toFixed(2),
        ],
      ],
    ),
    'targets: storm ratio ≤ 2, mem ratio ≤ 1.5',
  );
  console.log(out.join('\n'));
}

await main();
