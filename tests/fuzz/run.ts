/**
 * The entry-point fuzzer: every way in from outside, against real processes.
 *
 *   npm run fuzz                      # a bounded run (300 inputs per target), as CI runs it
 *   npm run fuzz -- --full            # 100,000 inputs per target
 *   npm run fuzz -- --count 5000 --target socket,helper --seed 42
 *   IDV_FUZZ_COUNT=100000 npm run fuzz
 *
 * Prints one table (docs/fuzz.md explains the columns) and exits 1 when any target had a crash,
 * a hang, a state change or a bypass, with the failing inputs and the seed to replay them.
 */
import { parseArgs } from 'node:util';
import {
  clean,
  emptyReport,
  formatTable,
  runTarget,
  type Report,
  type TargetSpec,
} from './runner.js';
import { agentConfigTarget, serverConfigTarget } from './targets/config.js';
import { helperTarget } from './targets/helper.js';
import { adminTarget, noTokenTarget, portalTarget } from './targets/http.js';
import { pamModuleTarget } from './targets/pam-module.js';
import { socketTarget } from './targets/socket.js';
import { wsAfterHello, wsBeforeHello } from './targets/ws.js';
import { stopWorlds } from './world.js';

export const FULL_COUNT = 100_000;
export const DEFAULT_COUNT = 300;

/** Short names for --target, in the order they run. */
export const TARGETS: Record<string, TargetSpec> = {
  socket: socketTarget,
  helper: helperTarget,
  'http-admin': adminTarget,
  'http-no-token': noTokenTarget,
  portal: portalTarget,
  'ws-before-hello': wsBeforeHello,
  'ws-after-hello': wsAfterHello,
  'server-config': serverConfigTarget,
  'agent-config': agentConfigTarget,
  'pam-module': pamModuleTarget,
};

export interface FuzzOptions {
  count: number;
  seed: number;
  targets?: string[];
  log?: (line: string) => void;
  /** Filled as the run goes: the reports so far, the last one still counting. */
  reports?: Report[];
}

/** Runs the chosen targets one after another; the processes are stopped whatever happens. */
export async function fuzz(opts: FuzzOptions): Promise<Report[]> {
  const names = opts.targets ?? Object.keys(TARGETS);
  const reports: Report[] = opts.reports ?? [];
  try {
    for (const name of names) {
      const spec = TARGETS[name];
      if (!spec)
        throw new Error(`unknown fuzz target ${name} (one of ${Object.keys(TARGETS).join(', ')})`);
      const skipped = spec.skip?.();
      if (skipped) {
        reports.push({ ...emptyReport(spec.name), skipped });
        continue;
      }
      opts.log?.(`fuzz ${spec.name}: ${opts.count} inputs, seed ${opts.seed}`);
      const report = emptyReport(spec.name);
      reports.push(report);
      await runTarget(
        spec,
        {
          count: opts.count,
          seed: opts.seed,
          progressEvery: opts.count >= 10_000 ? 5_000 : 0,
          ...(opts.log ? { log: opts.log } : {}),
        },
        report,
      );
    }
  } finally {
    await stopWorlds();
  }
  return reports;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      full: { type: 'boolean' },
      count: { type: 'string' },
      seed: { type: 'string' },
      target: { type: 'string' },
    },
  });
  const fromEnv = process.env.IDV_FUZZ_COUNT;
  const count = values.full ? FULL_COUNT : Number(values.count ?? fromEnv ?? DEFAULT_COUNT);
  const seed = Number(values.seed ?? process.env.IDV_FUZZ_SEED ?? Date.now() % 2 ** 31);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
    process.stderr.write('fuzz: --count and --seed take whole numbers\n');
    return 2;
  }
  const reports: Report[] = [];
  const print = (note: string): void => {
    process.stdout.write(
      `${formatTable(reports)}\n\nseed ${seed}, ${count} inputs per target${note}\n`,
    );
  };
  // Stopped by hand: print what was done, stop the server and agent, remove their folders.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      print(` (stopped by ${signal}: the last target did not finish)`);
      void stopWorlds().finally(() => process.exit(130));
    });
  await fuzz({
    count,
    seed,
    reports,
    ...(values.target ? { targets: values.target.split(',') } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  print('');
  return clean(reports) ? 0 : 1;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) process.exitCode = await main();
