/**
 * bench:helper — how long a login waits for idv-pam-helper: from spawn to exit (the verdict),
 * under `env -i` as pam_exec runs it, with the agent warm and the code on stdin (--authtok),
 * next to `env -i node -e 0` measured in the same run, interleaved.
 *
 * Real server, real agent. A successful code can be used once per time step (replay guard), so
 * the full begin → prompt → verify round is measured with wrong codes (the agent does the same
 * work: a durable counter write before it answers), spread over users with maxAttempts 100 so
 * that nobody gets locked; and the begin → skip round with a user the server does not manage.
 */
import { spawnSync } from 'node:child_process';
import { HELPER_JS, pamEnv, startWorld } from '../tests/integration/helper-world.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
// `npm run bench:helper -- --binary packaging/out/idv-pam-helper` adds rows for the single
// executable (npm run package) next to the node + bundle rows.
const binaryAt = process.argv.indexOf('--binary');
const BINARY = binaryAt > 0 ? process.argv[binaryAt + 1] : undefined;
if (binaryAt > 0 && !BINARY) throw new Error('--binary needs the path of the packaged helper');
const USERS = Math.ceil(RUNS / 90);

function timed(args: string[], input: string): { ms: number; status: number | null } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/env', ['-i', ...args], {
    input,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, status: r.status };
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

const world = await startWorld({ maxAttempts: 100, prompts: 3 });
try {
  const users = [];
  for (let i = 0; i < USERS; i++) users.push(await world.enrolled(`bench${i}`));
  const env = (user: string): string[] => Object.entries(pamEnv(user)).map(([k, v]) => `${k}=${v}`);
  const helperArgs = ['--socket', world.agent.socket, '--authtok'];
  const helper = (user: string): string[] => [
    ...env(user),
    process.execPath,
    HELPER_JS,
    ...helperArgs,
  ];
  const binary = (user: string): string[] => [...env(user), BINARY as string, ...helperArgs];
  const node = [process.execPath, '-e', '0'];

  // Warm-up: page cache, the agent's first queries.
  for (let i = 0; i < 10; i++) {
    timed(node, '');
    timed(helper('bench-unmanaged'), '');
  }
  const series: Record<string, number[]> = {
    node: [],
    verify: [],
    skip: [],
    binVerify: [],
    binSkip: [],
  };
  for (let i = 0; i < RUNS; i++) {
    const user = users[i % USERS]!;
    series.node!.push(timed(node, '').ms);
    const v = timed(helper(user.name), user.wrong());
    if (v.status !== 1)
      throw new Error(`helper verify run exited ${v.status}, expected 1 (wrong code)`);
    series.verify!.push(v.ms);
    const s = timed(helper('bench-unmanaged'), '');
    if (s.status !== 0) throw new Error(`helper skip run exited ${s.status}, expected 0`);
    series.skip!.push(s.ms);
    if (BINARY) {
      const bv = timed(binary(user.name), user.wrong());
      if (bv.status !== 1) throw new Error(`binary verify run exited ${bv.status}, expected 1`);
      series.binVerify!.push(bv.ms);
      const bs = timed(binary('bench-unmanaged'), '');
      if (bs.status !== 0) throw new Error(`binary skip run exited ${bs.status}, expected 0`);
      series.binSkip!.push(bs.ms);
    }
  }
  const base50 = pct(series.node!, 50);
  const rows: [string, number[]][] = [
    ['env -i node -e 0', series.node!],
    ['helper: begin → prompt → verify (code on stdin)', series.verify!],
    ['helper: begin → skip (unmanaged user)', series.skip!],
    ...(BINARY
      ? ([
          ['single binary: begin → prompt → verify', series.binVerify!],
          ['single binary: begin → skip', series.binSkip!],
        ] as [string, number[]][])
      : []),
  ];
  const lines = [
    `bench:helper — ${RUNS} runs each, interleaved; ${new Date().toISOString().slice(0, 10)}; Node ${process.version}`,
    '',
    '| what | p50 ms | p95 ms | p50 / node p50 |',
    '|---|---:|---:|---:|',
    ...rows.map(
      ([name, v]) =>
        `| ${name} | ${pct(v, 50).toFixed(1)} | ${pct(v, 95).toFixed(1)} | ${(pct(v, 50) / base50).toFixed(2)} |`,
    ),
  ];
  console.log(lines.join('\n'));
} finally {
  await world.stop();
}
