/**
 * The demo's own process supervisor: it starts the real programs (./bin/*), waits for their
 * ready line, keeps their logs in the demo's temp folder, and stops every one of them (SIGTERM,
 * then SIGKILL) whatever happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  match: RegExpMatchArray;
  stop(): Promise<void>;
}

export class Processes {
  private readonly live = new Set<ChildProcess>();

  constructor(
    private readonly binDir: string,
    private readonly logDir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  private log(name: string, text: string): void {
    appendFileSync(join(this.logDir, `${name}.log`), text);
  }

  /** Runs a program to its end; stdin gets `input` (or nothing). */
  run(
    name: string,
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; input?: string } = {},
  ): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(this.binDir, name), args, {
        env: { ...this.env, ...opts.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      this.live.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code, signal) => {
        this.live.delete(child);
        this.log(name, stderr);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
      child.stdin.end(opts.input ?? '');
    });
  }

  /** Runs a program on the demo's terminal (stdout and stderr shown as they come). */
  interactive(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(this.binDir, name), args, {
        env: { ...this.env, ...env },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      this.live.add(child);
      child.once('error', reject);
      child.once('close', (code) => {
        this.live.delete(child);
        resolve(code ?? 1);
      });
    });
  }

  /** Starts a long-running program and waits for `ready` on its stdout. */
  start(name: string, args: string[], ready: RegExp, timeoutMs = 20_000): Promise<Started> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(this.binDir, name), args, {
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.live.add(child);
      let out = '';
      const fail = (why: string): void => {
        clearTimeout(timer);
        reject(new Error(`${name} ${why}`));
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(`was not ready within ${timeoutMs / 1000} s`);
      }, timeoutMs);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        this.log(name, d.toString());
        const match = ready.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve({ child, match, stop: () => this.stop(child) });
        }
      });
      child.stderr.on('data', (d: Buffer) => this.log(name, d.toString()));
      child.once('error', (err) => fail(`could not start: ${err.message}`));
      child.once('exit', (code, signal) => {
        this.live.delete(child);
        fail(`exited (${code ?? signal}) before it was ready`);
      });
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(child: ChildProcess, graceMs = 5000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) {
      this.live.delete(child);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(kill);
        this.live.delete(child);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((c) => this.stop(c)));
  }

  /** Last resort on process exit: no waiting is possible there. */
  killAllNow(): void {
    for (const c of this.live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
