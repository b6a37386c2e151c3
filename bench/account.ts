/**
 * bench:account — the window that one use per code leaves open online (issue 14): from the `ok`
 * answer on agent A to the moment agent B (another device group) holds the accepted step and
 * refuses the same code. Next to it, the bare push path from the same run: an admin change
 * (unlock over the HTTP API) until B has applied it.
 *
 *   npm run bench:account [-- --samples 25]
 *
 * Real processes: an idv-server on 127.0.0.1:0 and two idv-agents on temp sockets. One user per
 * sample (each accepted code takes that user's time step). B's arrival is read off its status
 * (the revision moves only after the users of the delta are loaded); each sample then checks
 * that B really refuses the code as a replay.
 */
import { parseArgs } from 'node:util';
import { startServer } from '../tests/helpers/server.js';
import {
  addEnrolledUser,
  askAgent,
  begin,
  codeFor,
  startAgent,
  waitFor,
  type TestAgent,
} from '../tests/helpers/agent.js';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '25' } } });
const SAMPLES = Number(values.samples);

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

async function revision(agent: TestAgent): Promise<number> {
  const [s] = await askAgent(agent.socket, [{ type: 'status', v: 1 }]);
  return s?.revision as number;
}

/** Time (ms) from now until B's revision passes `before`, polling its socket. */
async function until(b: TestAgent, before: number, t0: number): Promise<number> {
  while ((await revision(b)) <= before) {
    /* poll */
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const server = await startServer();
  const users = Array.from({ length: SAMPLES }, (_, i) => `win${i}`);
  const totps = [];
  for (const u of users) totps.push((await addEnrolledUser(server, u)).totp);
  const policy = { maxAttempts: 100, accountMaxFailures: 100 };
  const a = await startAgent({ server, deviceGroup: 'bench-a', policy });
  const b = await startAgent({ server, deviceGroup: 'bench-b', policy });
  try {
    for (const x of [a, b]) await waitFor(async () => (await revision(x)) > 0, 'sync', 60_000);
    const window: number[] = [];
    const push: number[] = [];
    let refused = 0;
    for (const [i, user] of users.entries()) {
      // Baseline: an admin change pushed to B.
      let before = await revision(b);
      let t0 = performance.now();
      const r = await fetch(`${server.url}/v1/users/${user}/unlock`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${server.adminToken}`,
          'content-type': 'application/json',
        },
        body: '{}',
      });
      if (!r.ok) throw new Error(`unlock: HTTP ${r.status}`);
      push.push(await until(b, before, t0));

      // The window: ok on A → B holds the step.
      const code = codeFor(totps[i]!);
      before = await revision(b);
      const [, ok] = await askAgent(a.socket, [begin(user), { type: 'verify', code }]);
      t0 = performance.now();
      if (ok?.type !== 'ok') throw new Error(`A gave ${JSON.stringify(ok)}`);
      window.push(await until(b, before, t0));
      const [, again] = await askAgent(b.socket, [begin(user), { type: 'verify', code }]);
      if (again?.type === 'invalid' && String(again.message).includes('already used')) refused++;
    }
    window.sort((x, y) => x - y);
    push.sort((x, y) => x - y);
    const rows = [
      ['measure', 'ok on A → step on B', 'admin change → on B (bare push)', 'ratio'],
      ...[50, 90].map((p) => [
        `p${p} ms`,
        pct(window, p).toFixed(1),
        pct(push, p).toFixed(1),
        (pct(window, p) / pct(push, p)).toFixed(2),
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log(
      `bench:account — ${SAMPLES} samples (one user each), two device groups, ${new Date().toISOString()}`,
    );
    console.log(line(rows[0]!));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows.slice(1)) console.log(line(r));
    console.log(`B refused the code as a replay afterwards: ${refused}/${SAMPLES}`);
  } finally {
    await a.stop();
    await b.stop();
    await server.stop();
  }
}

await main();
