/**
 * Test helper: a real SMTP receiver (smtp-server) in its own process on 127.0.0.1, storing each
 * message it receives to a temp folder; optional STARTTLS with a self-signed certificate and AUTH.
 * `start()` may be called again after `stop()` (same port): a receiver that is down at first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './slapd.js';
import { selfSignedCert } from './tls.js';

const SCRIPT = resolve(import.meta.dirname, 'smtp-receiver.mjs');

export interface ReceivedMail {
  raw: string;
  from: string;
  to: string[];
  user: string | null;
  secure: boolean;
}

export interface SmtpReceiver {
  port: number;
  /** The certificate (PEM) when started with STARTTLS. */
  caFile?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  received(): ReceivedMail[];
  remove(): Promise<void>;
}

export async function smtpReceiver(
  opts: { tls?: boolean; auth?: string; start?: boolean } = {},
): Promise<SmtpReceiver> {
  const dir = mkdtempSync(join(tmpdir(), 'idv-smtp-'));
  const mails = join(dir, 'mail');
  const tls = opts.tls ? selfSignedCert(dir) : null;
  const port = await freePort();
  let child: ChildProcess | null = null;
  const r: SmtpReceiver = {
    port,
    ...(tls ? { caFile: tls.cert } : {}),
    start: () =>
      new Promise((ok, fail) => {
        const c = spawn(
          process.execPath,
          [
            SCRIPT,
            mails,
            String(port),
            ...(tls ? ['--tls-key', tls.key, '--tls-cert', tls.cert] : []),
            ...(opts.auth ? ['--auth', opts.auth] : []),
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        child = c;
        let out = '';
        c.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('listening')) ok();
        });
        c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
        c.once('exit', (code) => fail(new Error(`smtp receiver exited ${code}: ${out}`)));
      }),
    stop: async () => {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((x) => c.once('exit', x));
      c.kill('SIGTERM');
      await gone;
    },
    received: () => {
      let names: string[] = [];
      try {
        names = readdirSync(mails).filter((f) => f.endsWith('.json'));
      } catch {
        return [];
      }
      return names
        .sort((a, b) => parseInt(a) - parseInt(b))
        .map((f) => {
          const meta = JSON.parse(readFileSync(join(mails, f), 'utf8')) as Omit<
            ReceivedMail,
            'raw'
          >;
          return { ...meta, raw: readFileSync(join(mails, f.replace('.json', '.eml')), 'utf8') };
        });
    },
    remove: async () => {
      await r.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (opts.start !== false) await r.start();
  return r;
}
