/**
 * The real helper against a scripted agent on a temp socket: replies a real agent would only send
 * when something is wrong (or someone floods it). --fail-mode safe may let a login through only
 * when the agent cannot be asked; an agent that answers "busy" is being asked, and an attacker
 * can make it busy, so that is a refusal.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEXT } from '../../pam-helper/text.js';
import { missing } from '../helpers/require.js';
import { HELPER_JS, pamEnv, runHelper } from './helper-world.js';

let dir: string;
let socket: string;
let server: net.Server | null = null;

/** A fake agent answering each request line with the next scripted reply (raw text). */
function fakeAgent(replies: string[]): Promise<void> {
  return new Promise((resolve) => {
    server = net.createServer((s) => {
      let i = 0;
      let buf = '';
      s.on('error', () => undefined);
      s.on('data', (d) => {
        buf += d.toString();
        while (buf.includes('\n')) {
          buf = buf.slice(buf.indexOf('\n') + 1);
          const r = replies[i++];
          if (r === undefined) s.end();
          else s.write(`${r}\n`);
        }
      });
    });
    server.listen(socket, resolve);
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'idv-helper-fc-'));
  socket = join(dir, 'agent.sock');
});
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
  rmSync(dir, { recursive: true, force: true });
});

const helper = (extra: string[], input = '123456') =>
  runHelper(['--socket', socket, '--authtok', ...extra], pamEnv('alice'), input);

describe('idv-pam-helper fails closed', () => {
  it('an agent that says it is busy (flooded) is a refusal, even with --fail-mode safe', async () => {
    await fakeAgent([
      JSON.stringify({ type: 'error', code: 'RATE_LIMITED', message: 'too many logins' }),
    ]);
    const r = await helper(['--fail-mode', 'safe']);
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe(TEXT.unavailable);
  });

  it('garbage, or a second answer type, after the prompt is a refusal even with --fail-mode safe', async () => {
    for (const second of ['{"type":"ok"', '{"type":"skip"}', '{"type":"prompt","prompts":3}']) {
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      await fakeAgent([JSON.stringify({ type: 'prompt', prompts: 3 }), second]);
      const r = await helper(['--fail-mode', 'safe']);
      expect(r.code, second).toBe(1);
    }
  });
});

const noSetpriv = missing({ commands: ['setpriv'], root: true });

describe.skipIf(noSetpriv)(
  `an unprivileged PAM client${noSetpriv ? ` (skipped: ${noSetpriv})` : ''}`,
  () => {
    it('is refused even with --fail-mode safe when the root-only socket denies it', async () => {
      // A screen locker runs the PAM stack as the user: the 0600 root socket refuses it. That is
      // not an agent that is down, so fail-mode safe must not let the login through.
      await fakeAgent([JSON.stringify({ type: 'skip' })]);
      chmodSync(dir, 0o755);
      chmodSync(socket, 0o600);
      // The checkout may sit in a folder only root can enter (CI clones into a 0700 temp dir):
      // run a copy of the self-contained helper bundle from the test's own folder.
      const helperCopy = join(dir, 'idv-pam-helper.cjs');
      copyFileSync(HELPER_JS, helperCopy);
      chmodSync(helperCopy, 0o644);
      const r = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          helperCopy,
          '--socket',
          socket,
          '--authtok',
          '--fail-mode',
          'safe',
        ],
        { env: pamEnv('alice'), input: '123456', encoding: 'utf8', timeout: 20_000 },
      );
      expect(r.status).toBe(1);
      expect(r.stdout.trim()).toBe(TEXT.noPermission);
    });
  },
);
