/** Test helper: the HTTPS webhook receiver (webhook-receiver.mjs) as its own process; restartable. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './slapd.js';
import { selfSignedCert } from './tls.js';

const SCRIPT = resolve(import.meta.dirname, 'webhook-receiver.mjs');

export interface WebhookReceiver {
  url: string;
  caFile: string;
  secretFile: string;
  requests(): { valid: boolean; body: string }[];
  start(): Promise<void>;
  stop(): Promise<void>;
  remove(): Promise<void>;
}

export async function webhookReceiver(): Promise<WebhookReceiver> {
  const dir = mkdtempSync(join(tmpdir(), 'idv-webhook-'));
  const { cert, key } = selfSignedCert(dir);
  const secretFile = join(dir, 'webhook.key');
  writeFileSync(secretFile, 'webhook-hmac-key-8f2a\n', { mode: 0o600 });
  const out = join(dir, 'requests.jsonl');
  const port = await freePort();
  let child: ChildProcess | null = null;
  const r: WebhookReceiver = {
    url: `https://127.0.0.1:${port}/idv`,
    caFile: cert,
    secretFile,
    requests: () =>
      existsSync(out)
        ? readFileSync(out, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as { valid: boolean; body: string })
        : [],
    start: () =>
      new Promise((ok, fail) => {
        const c = spawn(process.execPath, [SCRIPT, out, String(port), cert, key, secretFile], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child = c;
        let text = '';
        c.stdout?.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('listening')) ok();
        });
        c.stderr?.on('data', (d: Buffer) => (text += d.toString()));
        c.once('exit', (code) => fail(new Error(`webhook receiver exited ${code}: ${text}`)));
      }),
    stop: async () => {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((x) => c.once('exit', x));
      c.kill('SIGTERM');
      await gone;
    },
    remove: async () => {
      await r.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await r.start();
  return r;
}
