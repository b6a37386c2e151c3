/**
 * The entry-point fuzzer's engine: feeds generated inputs to a target (a real process behind a
 * socket, a port or a file), counts what went wrong, and compares the target's stored state
 * before and after every batch in which no input was entitled to change it.
 *
 * What each column of the report means:
 * - crashes: the process under test died, stopped answering, answered 5xx or a garbled reply,
 *   or a run failed in a way no correct peer produces;
 * - hangs: no answer within the target's deadline;
 * - state changes: a batch of inputs that were all refused (or otherwise not entitled to change
 *   anything) left the store, database or cache different;
 * - bypasses: a login allowed, a session opened or an admin action accepted that should not be.
 */
import fc from 'fast-check';

export interface Outcome {
  /** The input was entitled to change stored state (an accepted admin action, a counted code). */
  changes?: boolean;
  /** Why this was a bypass (a login or action let through that should not be). */
  bypass?: string;
  /** Why this counts as a crash (5xx, invalid reply, process gone). */
  crash?: string;
}

export interface Target<I> {
  readonly arbitrary: fc.Arbitrary<I>;
  /** Inputs in flight at once. */
  readonly concurrency: number;
  /** Longest wait for one input before it counts as a hang. */
  readonly hangMs: number;
  run(input: I): Promise<Outcome>;
  /** The state that refused inputs must not change, as comparable text. */
  state(): Promise<string>;
  /** Whether the processes under test still answer (a dead one is a crash). */
  alive(): Promise<boolean>;
  stop(): Promise<void>;
}

export interface TargetSpec {
  readonly name: string;
  /** One line for the table's legend: what the inputs are and what counts as a bypass. */
  readonly what: string;
  /** A reason to leave the target out (a tool or a part that is missing), or null to run it. */
  skip?(): string | null;
  start(): Promise<Target<unknown>>;
}

export interface Report {
  target: string;
  inputs: number;
  crashes: number;
  hangs: number;
  stateChanges: number;
  bypasses: number;
  /** Inputs in batches whose state was compared (the others held an entitled change). */
  stateChecked: number;
  seconds: number;
  /** A few failing inputs (JSON, cut short) with what went wrong, to reproduce from. */
  examples: string[];
  /** Set when the target could not run at all (a missing tool). */
  skipped?: string;
}

export interface RunOptions {
  count: number;
  seed: number;
  /** Progress lines (to stderr) every this many inputs; 0 for none. */
  progressEvery?: number;
  log?: (line: string) => void;
}

const MAX_EXAMPLES = 5;

function show(input: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(input, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
  } catch {
    text = String(input);
  }
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'hang'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve('hang'), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** A report with nothing counted yet. */
export function emptyReport(target: string): Report {
  return {
    target,
    inputs: 0,
    crashes: 0,
    hangs: 0,
    stateChanges: 0,
    bypasses: 0,
    stateChecked: 0,
    seconds: 0,
    examples: [],
  };
}

/**
 * Runs `count` inputs against one target, counting into `report` as it goes (so a run stopped by
 * hand can still print what it did); the target is always stopped.
 */
export async function runTarget(
  spec: TargetSpec,
  opts: RunOptions,
  report: Report = emptyReport(spec.name),
): Promise<Report> {
  const started = Date.now();
  const note = (kind: string, input: unknown, why: string): void => {
    if (report.examples.length < MAX_EXAMPLES)
      report.examples.push(`${kind}: ${why} ← ${show(input)}`);
  };
  const target = await spec.start();
  try {
    const batchSize = Math.max(1, target.concurrency);
    let before = await target.state();
    let nextProgress = opts.progressEvery ?? 0;
    for (let batch = 0; report.inputs < opts.count; batch++) {
      const n = Math.min(batchSize, opts.count - report.inputs);
      const inputs = fc.sample(target.arbitrary, { numRuns: n, seed: opts.seed + batch });
      let entitled = false;
      let cursor = 0;
      const worker = async (): Promise<void> => {
        while (cursor < inputs.length) {
          const input = inputs[cursor++];
          let outcome: Outcome | 'hang';
          try {
            outcome = await withTimeout(target.run(input), target.hangMs);
          } catch (err) {
            outcome = { crash: `run failed: ${(err as Error).message}`, changes: true };
          }
          report.inputs++;
          if (outcome === 'hang') {
            report.hangs++;
            entitled = true; // its effect may land after the batch: do not compare
            note('hang', input, `no answer within ${target.hangMs} ms`);
            continue;
          }
          if (outcome.changes) entitled = true;
          if (outcome.crash) {
            report.crashes++;
            note('crash', input, outcome.crash);
          }
          if (outcome.bypass) {
            report.bypasses++;
            note('bypass', input, outcome.bypass);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(target.concurrency, n) }, worker));
      const after = await target.state();
      if (!entitled) {
        report.stateChecked += n;
        if (after !== before) {
          report.stateChanges++;
          note('state change', inputs, firstDifference(before, after));
        }
      }
      before = after;
      report.seconds = Math.round((Date.now() - started) / 100) / 10;
      if (!(await target.alive())) {
        report.crashes++;
        note('crash', inputs, 'the process under test stopped answering');
        break;
      }
      if (nextProgress && report.inputs >= nextProgress) {
        opts.log?.(
          `fuzz ${spec.name}: ${report.inputs}/${opts.count} (${Math.round((Date.now() - started) / 1000)} s)`,
        );
        nextProgress += opts.progressEvery ?? 0;
      }
    }
  } finally {
    await target.stop();
    report.seconds = Math.round((Date.now() - started) / 100) / 10;
  }
  return report;
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `state differs at ${i}: ${JSON.stringify(a.slice(Math.max(0, i - 40), i + 80))} → ${JSON.stringify(b.slice(Math.max(0, i - 40), i + 80))}`;
}

/** The report as one Markdown table (and the failing examples after it). */
export function formatTable(reports: Report[]): string {
  const head = [
    'target',
    'inputs',
    'crashes',
    'hangs',
    'state changes',
    'bypasses',
    'state-checked inputs',
    'seconds',
  ];
  const rows = reports.map((r) =>
    r.skipped
      ? [r.target, `skipped: ${r.skipped}`, '', '', '', '', '', '']
      : [
          r.target,
          String(r.inputs),
          String(r.crashes),
          String(r.hangs),
          String(r.stateChanges),
          String(r.bypasses),
          String(r.stateChecked),
          String(r.seconds),
        ],
  );
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  const examples = reports.flatMap((r) => r.examples.map((e) => `- ${r.target}: ${e}`));
  return [...lines, ...(examples.length ? ['', 'Failing inputs:', ...examples] : [])].join('\n');
}

/** True when nothing went wrong anywhere (skipped targets aside). */
export function clean(reports: Report[]): boolean {
  return reports.every((r) => r.crashes + r.hangs + r.stateChanges + r.bypasses === 0);
}
