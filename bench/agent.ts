/**
 * bench:agent — how fast the agent answers `verify` through its socket, with the durable write
 * (counters + event, SQLite WAL synchronous=FULL) that precedes every answer, next to one bare
 * SQLite commit with synchronous=FULL in the same folder (same disk) in the same run.
 *
 *   npm run bench:agent [-- --samples 1000 --clients 8 --seconds 3]
 *
 * Real processes: an idv-server on 127.0.0.1:0 and an idv-agent on a temp socket (the test
 * helpers). Wrong codes are used so that every verify writes (a failure count) — a success writes
 * the same row and the same event; the user is unlocked between rounds outside the measurement.
 * Each failure's event also goes to the server at once (the account's attempt budget, issue 14),
 * so the unlock between rounds is an admin unlock too (it clears the account's count).
 */
import net from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Database } from '../protocol/io/sqlite.js';
import { startServer } from '../tests/helpers/server.js';
import { addEnrolledUser, startAgent, waitFor, askAgent } from '../tests/helpers/agent.js';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '1000' },
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
  },
});
const SAMPLES = Number(values.samples);
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const PROMPTS = 10;

/** A line-oriented client on one connection: send a request, await its reply line. */
class Conn {
  #buf = '';
  #waiters: ((line: string) => void)[] = [];
  private constructor(private readonly s: net.Socket) {
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      this.#buf += d;
      let nl: number;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        this.#waiters.shift()?.(line);
      }
    });
  }
  static open(path: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  ask(req: object): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.#waiters.push((line) => resolve(JSON.parse(line) as Record<string, unknown>));
      this.s.write(`${JSON.stringify(req)}\n`);
    });
  }
  close(): void {
    this.s.end();
  }
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
const ms = (v: number) => v.toFixed(3);

async function main(): Promise<void> {
  const server = await startServer();
  const users = Array.from({ length: CLIENTS }, (_, i) => `bench${i}`);
  for (const u of users) await addEnrolledUser(server, u);
  const agent = await startAgent({
    server,
    policy: { maxAttempts: 100, lockoutSeconds: 0, prompts: PROMPTS, accountMaxFailures: 100 },
  });
  try {
    await waitFor(
      async () =>
        (await askAgent(agent.socket, [{ type: 'status', v: 1 }]))[0]?.users === users.length,
      'sync',
    );
    const wrong = { type: 'verify', code: '00000000' }; // 8 digits: never a valid 6-digit code
    const unlock = async (user: string) => {
      const r = await fetch(`${server.url}/v1/users/${user}/unlock`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${server.adminToken}`,
          'content-type': 'application/json',
        },
        body: '{}',
      });
      if (!r.ok) throw new Error(`admin unlock: HTTP ${r.status}`);
      await askAgent(agent.socket, [{ type: 'unlock', v: 1, user }]);
    };

    /** `count` verifies for `user`, PROMPTS per connection; returns each verify's latency (ms). */
    async function verifies(
      user: string,
      count: number,
      until = Infinity,
      after?: () => Promise<void>,
    ): Promise<number[]> {
      const lat: number[] = [];
      let failures = 0;
      await unlock(user);
      while (lat.length < count && performance.now() < until) {
        if (failures >= 40) {
          await unlock(user);
          failures = 0;
        }
        const c = await Conn.open(agent.socket);
        const b = await c.ask({ type: 'begin', v: 1, user, service: 'sudo' });
        if (b.type !== 'prompt') throw new Error(`begin gave ${JSON.stringify(b)}`);
        for (let i = 0; i < PROMPTS && lat.length < count && performance.now() < until; i++) {
          const t = performance.now();
          const r = await c.ask(wrong);
          lat.push(performance.now() - t);
          failures++;
          if (after) await after();
          if (r.type !== 'invalid') throw new Error(`verify gave ${JSON.stringify(r)}`);
        }
        c.close();
      }
      return lat;
    }

    // Baseline: one bare SQLite commit, synchronous=FULL, same folder, same package, measured
    // interleaved with the verifies (one each, alternately) so both see the same machine load.
    const db = await Database.open(join(agent.dataDir, 'bench-baseline.db'), {
      synchronous: 'FULL',
    });
    await db.exec('CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, n INTEGER)');
    const commits: number[] = [];
    let k = 0;
    const commit = async () => {
      const t = performance.now();
      await db.transaction(async (tx) => {
        await tx.run('INSERT OR REPLACE INTO t (k, n) VALUES (?, ?)', ['alice', k++]);
      });
      commits.push(performance.now() - t);
    };

    // Warm-up, then one client: latency of one verify.
    await verifies(users[0]!, 50, Infinity, commit);
    commits.length = 0;
    const one = (await verifies(users[0]!, SAMPLES, Infinity, commit)).sort((a, b) => a - b);
    await db.close();
    commits.sort((a, b) => a - b);

    // Transport alone: the same socket round trip answered without any database work (a verify
    // outside a login is refused by the route table before the engine is reached).
    const rt: number[] = [];
    {
      const c = await Conn.open(agent.socket);
      for (let i = 0; i < SAMPLES + 50; i++) {
        const t = performance.now();
        const r = await c.ask({ type: 'verify', code: '00000000' });
        if (i >= 50) rt.push(performance.now() - t);
        if (r.type !== 'error') throw new Error(`expected an error, got ${JSON.stringify(r)}`);
      }
      c.close();
    }
    rt.sort((a, b) => a - b);

    // Throughput: CLIENTS concurrent clients (one user each) for SECONDS.
    const t0 = performance.now();
    const until = t0 + SECONDS * 1000;
    const all = await Promise.all(users.map((u) => verifies(u, Number.MAX_SAFE_INTEGER, until)));
    const elapsed = (performance.now() - t0) / 1000;
    const total = all.reduce((n, l) => n + l.length, 0);

    const db2 = await Database.open(join(agent.dataDir, 'bench-baseline.db'), {
      synchronous: 'FULL',
    });
    // The same commit back-to-back (not interleaved): the disk's best case, shown for honesty.
    const solo: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t = performance.now();
      await db2.transaction(async (tx) => {
        await tx.run('INSERT OR REPLACE INTO t (k, n) VALUES (?, ?)', ['bob', i]);
      });
      solo.push(performance.now() - t);
    }
    solo.sort((a, b) => a - b);
    const tc0 = performance.now();
    let n = 0;
    while (performance.now() - tc0 < SECONDS * 1000) {
      await db2.transaction(async (tx) => {
        await tx.run('INSERT OR REPLACE INTO t (k, n) VALUES (?, ?)', ['alice', n++]);
      });
    }
    const commitRate = n / ((performance.now() - tc0) / 1000);
    await db2.close();

    const rows = [
      [
        'measure',
        'verify (socket)',
        'bare commit (FULL)',
        'ratio verify/commit',
        'socket round trip, no write',
        'commit back-to-back',
        'verify/back-to-back',
      ],
      [
        'p50 ms',
        ms(pct(one, 50)),
        ms(pct(commits, 50)),
        (pct(one, 50) / pct(commits, 50)).toFixed(2),
        ms(pct(rt, 50)),
        ms(pct(solo, 50)),
        (pct(one, 50) / pct(solo, 50)).toFixed(2),
      ],
      [
        'p99 ms',
        ms(pct(one, 99)),
        ms(pct(commits, 99)),
        (pct(one, 99) / pct(commits, 99)).toFixed(2),
        ms(pct(rt, 99)),
        ms(pct(solo, 99)),
        (pct(one, 99) / pct(solo, 99)).toFixed(2),
      ],
      [
        'per second',
        `${(total / elapsed).toFixed(0)} (${CLIENTS} clients)`,
        `${commitRate.toFixed(0)} (1 writer)`,
        (total / elapsed / commitRate).toFixed(2),
        '',
        '',
        '',
      ],
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(
      `bench:agent — ${SAMPLES} sequential verifies, ${CLIENTS} clients × ${SECONDS} s, ${new Date().toISOString()}`,
    );
    console.log(line(rows[0]!));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows.slice(1)) console.log(line(r));
    const ratio = pct(one, 50) / pct(commits, 50);
    console.log(
      `target verify/commit at p50 ≤ 1.5 (interleaved commit): ${ratio <= 1.5 ? 'met' : `missed by ${(ratio - 1.5).toFixed(2)}`}; against the back-to-back commit: ${(pct(one, 50) / pct(solo, 50)).toFixed(2)}`,
    );
  } finally {
    await agent.stop();
    await server.stop();
  }
}

await main();
