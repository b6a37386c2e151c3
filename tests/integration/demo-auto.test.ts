// `npm run demo`: the automatic narration end to end, Ctrl-C, a failing step, and the
// interactive path on a real terminal (node-pty) typing codes as a person would. Each run must
// leave no process and no temp folder behind.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import pty from 'node-pty';
import { generateCode, parseOtpauthUri } from '../../protocol/totp.js';

const TSX = resolve('node_modules/.bin/tsx');
const DEMO = resolve('scripts/demo.ts');

/** The demo's temp folder, from the line that names its server data folder. */
function tempDirOf(output: string): string {
  const m = /data in (\/\S+)\/server\)/.exec(output);
  if (!m) throw new Error(`no temp folder in the output:\n${output}`);
  return m[1] as string;
}

/** Processes whose command line mentions `text` (the demo's programs all name its temp dir). */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) found.push(`${pid}: ${cmd}`);
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

function runDemo(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; interruptAfter?: RegExp } = {},
): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(TSX, [DEMO, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (opts.interruptAfter && !sent && opts.interruptAfter.test(out)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('close', (code, signal) => done({ code, signal, out, err }));
  });
}

describe('npm run demo -- --auto', () => {
  it('narrates every step, exits 0 and leaves nothing behind', async () => {
    const r = await runDemo(['--auto']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const steps = [
      '== a good code is accepted',
      '=> login allowed',
      '== the same code again is refused (replay)',
      'This code was already used',
      '== wrong codes until lockout (3 failed attempts in a row; the replay was the first)',
      'Too many failed attempts: locked until',
      '=> locked after the replay and 2 wrong code(s)',
      '=> locked: even a valid code is refused now',
      '== unlock from the server (idvctl user unlock)',
      '=> unlocked; login allowed',
      '== server stopped: the cached login still works',
      '=> login allowed offline',
      '== server back: the queued events arrive',
      'event(s) arrived',
      'demo: done',
    ];
    let at = 0;
    for (const s of steps) {
      const i = r.out.indexOf(s, at);
      expect(i, `"${s}" (in order) in:\n${r.out}`).toBeGreaterThanOrEqual(0);
      at = i;
    }
    // What was queued offline is what arrived: the same events counted twice.
    const queued = /(\d+) event\(s\) queued on the agent/.exec(r.out)?.[1];
    const arrived = /(\d+) event\(s\) arrived/.exec(r.out)?.[1];
    expect(queued).toBeDefined();
    expect(arrived).toBe(queued);
    const tmp = tempDirOf(r.out);
    expect(existsSync(tmp)).toBe(false);
    expect(processesMentioning(tmp)).toEqual([]);
  }, 180_000);

  it('on SIGINT stops what it started, removes its folder and ends normally (exit 0)', async () => {
    const r = await runDemo(['--auto'], { interruptAfter: /== agent: register/ });
    expect(r.code).toBe(0);
    expect(r.out).toContain('demo: stopped (Ctrl-C) during');
    expect(r.err).toBe('');
    const tmp = tempDirOf(r.out);
    expect(existsSync(tmp)).toBe(false);
    expect(processesMentioning(tmp)).toEqual([]);
  }, 60_000);

  it('Ctrl-C typed on the terminal (SIGINT to server and agent too) is a one-line goodbye, not a failed step', async () => {
    // node with tsx as a loader, not the tsx CLI: the CLI is a second process in the terminal's
    // process group that gets the same Ctrl-C and races the demo to exit (130) first.
    const term = pty.spawn(process.execPath, ['--import', 'tsx', DEMO, '--auto'], {
      cols: 120,
      rows: 60,
      cwd: process.cwd(),
      env: { ...process.env } as Record<string, string>,
    });
    let out = '';
    const exited = new Promise<number>((done) => term.onExit(({ exitCode }) => done(exitCode)));
    term.onData((d) => (out += d));
    // Mid-demo, with the server and the agent running and a login under way.
    await new Promise<void>((done) => {
      const t = setInterval(() => {
        if (out.includes('== a good code is accepted')) {
          clearInterval(t);
          done();
        }
      }, 20);
    });
    term.write('\x03');
    expect(await exited).toBe(0);
    const after = out.slice(out.indexOf('== a good code is accepted'));
    expect(after).toMatch(
      /demo: stopped \(Ctrl-C\) during "[^"]+"; everything it started is stopped/,
    );
    expect(after).not.toContain('failed');
    expect(after).not.toContain('"level"'); // no dump of the programs' JSON logs
    const tmp = tempDirOf(out);
    expect(existsSync(tmp)).toBe(false);
    expect(processesMentioning(tmp)).toEqual([]);
  }, 120_000);

  it('names the step that failed and why, and exits 1', async () => {
    const r = await runDemo(['--auto'], { env: { IDV_LOG_LEVEL: 'loud' } });
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'demo: step "server: init and serve on loopback" failed: idv-server exited (1)',
    );
    expect(r.err).toContain('logLevel');
  }, 60_000);

  it('refuses an unknown option with usage (exit 2)', async () => {
    const r = await runDemo(['--fast']);
    expect(r.code).toBe(2);
    expect(r.out).toContain('Usage: npm run demo');
  });
});

describe('npm run demo (interactive, on a terminal)', () => {
  it('shows the QR code, and the helper asks for the code on this terminal', async () => {
    const term = pty.spawn(TSX, [DEMO], {
      cols: 120,
      rows: 60,
      cwd: process.cwd(),
      env: { ...process.env } as Record<string, string>,
    });
    let out = '';
    const seen = (re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> =>
      new Promise((done, fail) => {
        const started = Date.now();
        const tick = (): void => {
          const m = re.exec(out);
          if (m) return done(m);
          if (Date.now() - started > timeoutMs) return fail(new Error(`no ${re} in:\n${out}`));
          setTimeout(tick, 50);
        };
        tick();
      });
    const exited = new Promise<number>((done) => term.onExit(({ exitCode }) => done(exitCode)));
    term.onData((d) => (out += d));
    try {
      const key = (await seen(/Add the key by hand in the app: ([A-Z2-7 ]+)\r?\n/))[1] as string;
      expect(out).toMatch(/[▀▄█]/); // the QR code, drawn with block characters
      const params = parseOtpauthUri(
        `otpauth://totp/idv:alice?secret=${key.replace(/ /g, '')}&issuer=idv`,
      )!.params;
      await seen(/to confirm: /);
      term.write(`${generateCode(params, Date.now() - 30_000)}\r`);
      await seen(/Verification code \(authenticator app\): /);
      term.write(`${generateCode(params, Date.now())}\r`);
      await seen(/=> login (allowed|refused)/);
      expect(out).toContain('=> login allowed (exit 0)');
      await seen(/Try again\? \[y\/N\] /);
      term.write('n\r');
      expect(await exited).toBe(0);
      const tmp = tempDirOf(out);
      expect(existsSync(tmp)).toBe(false);
      expect(processesMentioning(tmp)).toEqual([]);
    } finally {
      term.kill();
    }
  }, 120_000);
});
