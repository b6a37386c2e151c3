/**
 * The fuzz harness for pam_idv.so's handling of the agent's replies: the module built with
 * AddressSanitizer + UndefinedBehaviorSanitizer, loaded by a real PAM library (Linux-PAM, or
 * OpenPAM from shared/vendor) into a tiny ASan client (pam_client.c) that runs many logins in one
 * process, each against a stand-in agent (fake-agent.ts) answering the next case (cases.ts).
 *
 * Interface (for scripts such as `npm run fuzz`; root is needed for /etc/pam.d with Linux-PAM):
 *
 *   import { fuzzModule } from './tests/e2e/pam-module/fuzz.js';
 *   const report = await fuzzModule({ count: 100_000, seed: 1, pam: 'linux' });  // or 'openpam'
 *
 *   or: npx tsx tests/e2e/pam-module/fuzz.ts [--count N] [--seed S] [--pam linux|openpam] [--json]
 *   (IDV_FUZZ_COUNT sets the default count; exit 1 when the report is not clean)
 *
 * The report: inputs (cases run, slow ones included), crashes, hangs, bypasses (the module let a
 * login through that the reference, the helper's own reply check and flow, refuses), stricter
 * (refused where the reference allows; expected for the forms listed in pam-module/README.md),
 * sanitizer (ASan/LSan/UBSan reports), protocolErrors (a begin or verify the agent's schema
 * refuses), controlFailures (valid replies the module refused), and a few examples of each.
 * Clean = no crash, hang, bypass, sanitizer report, protocol error or control failure.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseLocalRequest } from '../../../protocol/messages.js';
import { CODE, randomCases, slowCases, type FuzzCase } from './cases.js';
import { startFakeAgent } from './fake-agent.js';
import {
  buildClient,
  buildModule,
  linuxPam,
  openpamLibrary,
  type PamLibrary,
  SAFE_CACHE,
} from './build.js';
import { installService } from '../system.js';

export interface FuzzOptions {
  count: number;
  seed?: number;
  pam?: 'linux' | 'openpam';
  /** Logins per client process (default 500). */
  batch?: number;
  /** Skip the slow cases (each costs about a second). */
  noSlow?: boolean;
}

export interface FuzzReport {
  pam: 'linux' | 'openpam';
  inputs: number;
  crashes: number;
  hangs: number;
  bypasses: number;
  stricter: number;
  sanitizer: number;
  protocolErrors: number;
  controlFailures: number;
  examples: string[];
  clean: boolean;
}

const SANITIZER =
  /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|UndefinedBehaviorSanitizer/;

export async function fuzzModule(opts: FuzzOptions): Promise<FuzzReport> {
  const pamKind = opts.pam ?? 'linux';
  const lib: PamLibrary = pamKind === 'openpam' ? openpamLibrary() : linuxPam();
  // Not below the checkout (it may sit under /tmp): OpenPAM refuses modules in a folder that
  // others may write to.
  mkdirSync(SAFE_CACHE, { recursive: true, mode: 0o755 });
  const work = mkdtempSync(path.join(SAFE_CACHE, 'pam-fuzz-'));
  const report: FuzzReport = {
    pam: pamKind,
    inputs: 0,
    crashes: 0,
    hangs: 0,
    bypasses: 0,
    stricter: 0,
    sanitizer: 0,
    protocolErrors: 0,
    controlFailures: 0,
    examples: [],
    clean: false,
  };
  const note = (s: string): void => {
    if (report.examples.length < 20) report.examples.push(s);
  };
  const cleanups: (() => unknown)[] = [() => rmSync(work, { recursive: true, force: true })];
  try {
    const sanitize = [
      '-fsanitize=address,undefined',
      '-fno-sanitize-recover=all',
      '-fno-omit-frame-pointer',
      '-g',
      '-O1',
    ];
    const module = buildModule(path.join(work, 'pam_idv_asan.so'), lib, sanitize);
    const client = buildClient(path.join(work, 'pam_client'), lib, sanitize);
    const sets: { cases: FuzzCase[]; timeout: number }[] = [
      { cases: randomCases(opts.count, opts.seed ?? 1), timeout: 30 },
      ...(opts.noSlow ? [] : [{ cases: slowCases(), timeout: 1 }]),
    ];
    for (const set of sets) {
      let cases = set.cases;
      const agent = await startFakeAgent(async (conn, i) => {
        const c = cases[i];
        if (!c) return;
        for (const [k, reply] of c.replies.entries()) {
          const req = await conn.line(60_000);
          if (req === null) return;
          const parsed = parseLocalRequest(req);
          const good =
            parsed.ok &&
            parsed.value.type === (k === 0 ? 'begin' : 'verify') &&
            (k === 0 || (parsed.value.type === 'verify' && parsed.value.code === CODE));
          if (!good) {
            report.protocolErrors++;
            note(`protocol error on ${c.what}: request ${k} refused by the agent's schema`);
          }
          if (!Buffer.isBuffer(reply)) {
            await reply.run(conn);
          } else {
            conn.write(reply);
            // No newline: hang up (closing mid-line); waiting open is what the slow cases do.
            if (!reply.includes(0x0a)) return;
          }
        }
      });
      cleanups.push(() => agent.stop());
      const options = `socket=${agent.socket} timeout=${set.timeout}`;
      const service =
        lib.kind === 'openpam'
          ? writePolicy(work, `auth required ${module} ${options}\n`)
          : installService('fuzz', `auth required ${module} ${options}\n`);
      cleanups.push(() => service.remove());
      while (agent.connections() < cases.length) {
        const start = agent.connections();
        const n = Math.min(opts.batch ?? 500, cases.length - start);
        const run = await runClient(client, lib, service.name, n, 120_000 + n * 10 * set.timeout);
        const results = [...run.stdout.matchAll(/^result (\d+) (-?\d+) (\S+)$/gm)];
        for (const m of results) {
          const idx = start + Number(m[1]);
          const c = cases[idx];
          if (!c) continue;
          report.inputs++;
          const allowed = m[3] === 'PAM_SUCCESS';
          if (allowed && !c.allow) {
            report.bypasses++;
            note(`bypass: ${c.what}`);
          }
          if (!allowed && c.allow) {
            if (c.control) {
              report.controlFailures++;
              note(`control refused: ${c.what}`);
            } else report.stricter++;
          }
        }
        if (SANITIZER.test(run.stderr)) {
          report.sanitizer++;
          note(
            `sanitizer: ${run.stderr
              .split('\n')
              .filter((l) => SANITIZER.test(l))
              .slice(0, 2)
              .join(' / ')}`,
          );
        }
        if (results.length < n) {
          const at = start + results.length;
          const c = cases[at];
          if (run.timedOut) report.hangs++;
          else report.crashes++;
          report.inputs++;
          note(`${run.timedOut ? 'hang' : `crash (exit ${run.code})`} at ${c?.what ?? at}`);
          // Go on after the case that broke the run: the next connection gets the next case.
          if (agent.connections() <= at) cases = [...cases.slice(0, at), ...cases.slice(at + 1)];
        } else if (run.code !== 0) {
          // Every login ran, then the client failed: a leak report at exit, or a crash in pam_end.
          report.crashes += SANITIZER.test(run.stderr) ? 0 : 1;
          note(`client exit ${run.code} after ${n} logins`);
        }
        if (agent.connections() === start) break; // nothing connects: no point going on
      }
    }
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // keep cleaning
      }
    }
  }
  report.clean =
    report.crashes +
      report.hangs +
      report.bypasses +
      report.sanitizer +
      report.protocolErrors +
      report.controlFailures ===
      0 && report.inputs > 0;
  return report;
}

function writePolicy(dir: string, text: string): { name: string; remove(): void } {
  const file = path.join(dir, `idv-fuzz-${process.pid}`);
  writeFileSync(file, text, { mode: 0o644 });
  return { name: file, remove: () => rmSync(file, { force: true }) };
}

interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs the client for `n` logins, each giving `answers` in turn (default: CODE at up to 10 prompts). */
export function runClient(
  client: string,
  lib: PamLibrary,
  service: string,
  n: number,
  timeoutMs: number,
  user = 'idvfuzz',
  answers: string[] = Array<string>(10).fill(CODE),
): Promise<ClientRun> {
  return new Promise((resolve) => {
    const child = spawn(client, ['--repeat', String(n), service, user, ...answers], {
      env: {
        PATH: '/usr/bin:/bin',
        ASAN_OPTIONS: 'detect_leaks=1:halt_on_error=1:exitcode=99',
        LSAN_OPTIONS: 'exitcode=98',
        UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
        ...lib.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 1_000_000) stderr += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

const isMain =
  process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename);
if (isMain) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const count = Number(arg('count') ?? process.env.IDV_FUZZ_COUNT ?? 2000);
  const pam = (arg('pam') ?? 'linux') as 'linux' | 'openpam';
  const report = await fuzzModule({ count, seed: Number(arg('seed') ?? 1), pam });
  if (process.argv.includes('--json')) console.log(JSON.stringify(report));
  else console.log(report);
  process.exitCode = report.clean ? 0 : 1;
}
