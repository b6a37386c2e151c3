/**
 * pam_idv.so's reply parser (pam-module/reply.c), built with ASan and UBSan into a harness
 * (tests/fuzz/pam-reply-harness.c) that parses one length-prefixed line per record. Inputs: the
 * helper's replies mutated (a key changed, dropped, added), any JSON, any text and bytes, and the
 * byte tricks a C parser trips on (NUL inside, invalid UTF-8, duplicate keys, 1e2, lines at the
 * size limit). A sanitizer report or a dead harness is a crash; `ok` or `skip` from the C parser
 * where the helper's parser (pam-helper/reply.ts, the same contract) does not say so is a bypass.
 */
import fc from 'fast-check';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseHelperReply, type HelperReplyType } from '../../../pam-helper/reply.js';
import { VALID_LOCAL_REPLIES, lines, toJson } from '../generators.js';
import type { Outcome, Target, TargetSpec } from '../runner.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const CC = process.env.CC || 'cc';
/** Order of enum idv_reply_type in pam-module/reply.h. */
const C_TYPES: HelperReplyType[] = ['skip', 'deny', 'prompt', 'ok', 'invalid', 'locked', 'error'];

const tricks: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(...VALID_LOCAL_REPLIES).map((m) => {
    const t = toJson(m);
    return Buffer.from(`${t.slice(0, -1)},"type":"ok"}`); // a duplicate key
  }),
  fc.tuple(fc.constantFrom(...VALID_LOCAL_REPLIES), fc.nat()).map(([m, i]) => {
    const b = Buffer.from(toJson(m));
    b[i % b.length] = 0; // a NUL anywhere
    return b;
  }),
  fc
    .tuple(
      fc.constantFrom(...VALID_LOCAL_REPLIES),
      fc.nat(),
      fc.constantFrom(0x80, 0xc0, 0xed, 0xf4, 0xff),
    )
    .map(([m, i, byte]) => {
      const b = Buffer.from(toJson(m));
      b[i % b.length] = byte; // invalid UTF-8
      return b;
    }),
  fc
    .constantFrom(
      '{"type":"prompt","prompts":1e0}',
      '{"type":"prompt","prompts":-0}',
      '{"type":"prompt","prompts":3.0}',
      '{"type":"invalid","attemptsLeft":99999999999999999999,"message":"x"}',
      '{"type":"ok","message":"\\ud800"}',
      '{"type":"ok","message":"\\u0000"}',
      '{"type":"ok"}\u0000',
      ' {"type":"ok"} ',
      '{"type" : "ok"}',
      '{"type":"o\\u006b"}',
      '{"type":"ok",}',
      '{"type":"ok"',
      '{{"type":"ok"}}',
    )
    .map((s) => Buffer.from(s)),
  fc
    .nat({ max: 64 })
    .map((extra) => Buffer.from(`{"type":"deny","message":"${'x'.repeat(8170 + extra)}"}`)),
  fc
    .nat({ max: 8 })
    .map((extra) => Buffer.from(`{"type":"deny","message":"${'€'.repeat(508 + extra)}"}`)),
);

const arbitrary: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: lines(VALID_LOCAL_REPLIES).map((s) => Buffer.from(s, 'utf8')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => Buffer.from(s, 'latin1')) },
  { weight: 2, arbitrary: tricks },
);

/** One long-running harness process; answers arrive in order, one line per record. */
class Harness {
  private buffer = '';
  private waiting: ((line: string | null) => void)[] = [];
  private stderr = '';
  readonly child: ChildProcess;
  constructor(bin: string) {
    this.child = spawn(bin, [], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ASAN_OPTIONS: 'abort_on_error=0:exitcode=99',
        UBSAN_OPTIONS: 'halt_on_error=1:exitcode=98',
      },
    });
    this.child.stdout?.on('data', (d: Buffer) => {
      this.buffer += d.toString();
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.stdin?.on('error', () => undefined);
    this.child.once('exit', () => {
      for (const w of this.waiting.splice(0)) w(null);
    });
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  report(): string {
    return (
      this.stderr.split('\n').find((l) => /ERROR|runtime error/.test(l)) ??
      this.stderr.slice(0, 300)
    );
  }
  parse(line: Buffer): Promise<string | null> {
    if (!this.running) return Promise.resolve(null);
    const header = Buffer.alloc(4);
    header.writeUInt32LE(line.length);
    return new Promise((done) => {
      this.waiting.push(done);
      this.child.stdin?.write(Buffer.concat([header, line]));
    });
  }
}

export const pamModuleTarget: TargetSpec = {
  name: 'pam_idv.so reply parser (ASan)',
  what: 'agent replies to the C module’s parser under ASan/UBSan; bypass: ok/skip the helper’s parser refuses',
  skip: () =>
    spawnSync(CC, ['--version'], { stdio: 'ignore' }).status === 0 ? null : `no C compiler (${CC})`,
  async start(): Promise<Target<Buffer>> {
    const dir = mkdtempSync(join(tmpdir(), 'idv-fuzz-pam-'));
    const bin = join(dir, 'harness');
    const built = spawnSync(
      CC,
      [
        '-std=c11',
        '-g',
        '-O1',
        '-fsanitize=address,undefined',
        '-fno-sanitize-recover=all',
        '-fno-omit-frame-pointer',
        `-I${join(ROOT, 'pam-module')}`,
        '-o',
        bin,
        join(ROOT, 'tests/fuzz/pam-reply-harness.c'),
        join(ROOT, 'pam-module/reply.c'),
      ],
      { encoding: 'utf8' },
    );
    if (built.status !== 0) throw new Error(`cannot build the ASan harness: ${built.stderr}`);
    let harness = new Harness(bin);
    return {
      arbitrary,
      concurrency: 1,
      hangMs: 10_000,
      async run(line) {
        const answer = await harness.parse(line);
        if (answer === null) {
          const why = harness.report();
          harness = new Harness(bin); // go on with the next input
          return { crash: `harness died: ${why}` };
        }
        const outcome: Outcome = {};
        const fields = answer.split(' ').map(Number);
        const c = answer === '-1' ? null : C_TYPES[fields[0] as number];
        if (answer !== '-1' && c === undefined)
          return { crash: `unknown reply type from the parser: ${answer}` };
        // The module and the helper read the same bytes as UTF-8 text.
        const text = line.toString('utf8');
        const ts = line.includes(0) || text.includes('\ufffd') ? null : parseHelperReply(text);
        const tsType = ts && ts.ok ? ts.value.type : null;
        if ((c === 'ok' || c === 'skip') && tsType !== c)
          outcome.bypass = `the C parser read ${c}, the helper's parser ${tsType ?? 'refuses'}`;
        return outcome;
      },
      state: async () => '',
      alive: async () => true,
      async stop() {
        harness.child.stdin?.end();
        harness.child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
