import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../protocol/policy.js';
import { generateCode, newTotpParams } from '../../protocol/totp.js';
import { parseLocalReply } from '../../protocol/messages.js';
import { Cache } from '../../agent/store/cache.js';
import { CacheCipher } from '../../agent/store/crypto.js';
import { LoginEngine } from '../../agent/policy/engine.js';
import { listenLocal, type LocalApi } from '../../agent/localapi/server.js';
import { statusOf } from '../../agent/daemon.js';
import { askAgent, begin, waitForLocalSocket } from '../helpers/agent.js';
import { randomBytes } from 'node:crypto';

const log = pino({ level: 'silent' });
const totp = newTotpParams();
let dir: string;
let socket: string;
let cache: Cache;
let api: LocalApi;

async function start(
  idleMs = 10_000,
  limits: { maxConnections?: number; maxLoginsPerUser?: number } = {},
): Promise<LocalApi> {
  const engine = new LoginEngine({ cache, now: Date.now, connected: () => true, log });
  return listenLocal({
    socketPath: socket,
    deps: {
      engine,
      status: () =>
        statusOf(cache, engine, null, {
          connected: true,
          server: 'http://127.0.0.1:1',
          protocol: 2,
          syncError: null,
          uploadError: null,
          staleSince: null,
          outages: 0,
          moves: 0,
          serverStaleSince: null,
        }),
    },
    log,
    idleMs,
    promptIdleMs: idleMs * 2,
    ...limits,
  });
}

/** Opens a connection, sends `begin` for `user`, resolves with the socket and its first reply. */
function openLogin(user: string): Promise<{ s: net.Socket; reply: unknown }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket, () => s.write(`${JSON.stringify(begin(user))}\n`));
    let text = '';
    s.on('data', (d) => {
      text += d.toString();
      if (text.includes('\n')) resolve({ s, reply: JSON.parse(text.split('\n')[0]!) });
    });
    s.on('error', reject);
  });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idv-agent-api-'));
  socket = join(dir, 'run', 'agent.sock');
  cache = await Cache.open(join(dir, 'cache.db'), new CacheCipher(randomBytes(32)));
  await cache.applySnapshot(
    {
      type: 'snapshot',
      revision: 1,
      serverTime: Date.now(),
      deviceGroup: 'default',
      policy: { ...DEFAULT_POLICY, prompts: 2 },
      users: [
        {
          name: 'alice',
          groups: [],
          status: 'active',
          totp,
          graceStartedAt: 0,
          recoveryCodes: [],
          unlockedAt: null,
        },
      ],
    },
    Date.now(),
  );
  api = await start();
});
afterEach(async () => {
  await api.close();
  await cache.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes raw bytes, collects whatever comes back until the agent closes or `ms` pass. */
function raw(
  data: string | Buffer,
  ms = 30_000,
  untilLine = false,
): Promise<{ text: string; closedByAgent: boolean }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = net.connect(socket, () => s.write(data));
    const t = setTimeout(() => {
      s.destroy();
      resolve({ text, closedByAgent: false });
    }, ms);
    s.on('data', (d) => {
      text += d.toString();
      if (untilLine && text.includes('\n')) {
        clearTimeout(t);
        s.destroy();
        resolve({ text, closedByAgent: false });
      }
    });
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ text, closedByAgent: true });
    });
  });
}

describe('local API socket', () => {
  it('is 0600 in a 0700 folder, and a second agent on the same socket refuses to start', async () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
    await expect(start()).rejects.toMatchObject({ code: 'ALREADY_RUNNING' });
    // the first one still answers
    expect((await askAgent(socket, [begin('alice')]))[0]).toMatchObject({ type: 'prompt' });
  });

  it('replaces a stale socket file, and refuses to delete a regular file', async () => {
    await api.close();
    // A dead agent's socket file: a process that listened and was killed (no cleanup).
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(statSync(socket).isSocket()).toBe(true);
    writeFileSync(join(dir, 'not-a-socket'), 'x');
    await expect(
      listenLocal({ socketPath: join(dir, 'not-a-socket'), deps: {} as never, log }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    api = await start();
    expect((await askAgent(socket, [begin('alice')]))[0]).toMatchObject({ type: 'prompt' });
  });

  it('refuses a socket folder that is a symlink or open to others (it could be swapped)', async () => {
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o755 });
    symlinkSync(elsewhere, join(dir, 'link'));
    await expect(
      listenLocal({ socketPath: join(dir, 'link', 'agent.sock'), deps: {} as never, log }),
    ).rejects.toMatchObject({ code: 'PERMISSION' });
    // Its target was not touched (no chmod through the link).
    expect(statSync(elsewhere).mode & 0o777).toBe(0o755);
    // Inside a folder others may write to (no sticky bit), they could rename ours away.
    mkdirSync(join(dir, 'open'));
    chmodSync(join(dir, 'open'), 0o777);
    await expect(
      listenLocal({ socketPath: join(dir, 'open', 'run', 'agent.sock'), deps: {} as never, log }),
    ).rejects.toMatchObject({ code: 'PERMISSION' });
  });

  it('answers garbage with an error line and keeps serving on the same connection', async () => {
    const replies = await askAgent(socket, [
      { type: 'nope' },
      { type: 'begin', v: 1, user: '-rf', service: 'sudo' },
      { type: 'begin', v: 2, user: 'alice', service: 'sudo' },
      { type: 'verify', code: '123456' },
      begin('alice'),
      { type: 'verify', code: generateCode(totp, Date.now()) },
    ]);
    expect(replies.map((r) => (r.type === 'error' ? r.code : r.type))).toEqual([
      'UNKNOWN_TYPE',
      'INVALID_MESSAGE',
      'PROTOCOL_VERSION',
      'OUT_OF_ORDER',
      'prompt',
      'ok',
    ]);
    const bad = await raw('{"type":\n', 30_000, true);
    expect(JSON.parse(bad.text.split('\n')[0]!)).toMatchObject({
      type: 'error',
      code: 'MALFORMED_JSON',
    });
  });

  it('answers a client that half-closes right after sending (printf | nc -U)', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      let out = '';
      const s = net.connect(socket, () => s.end('{"type":"status","v":1}\n'));
      s.on('data', (d) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', reject);
    });
    expect(JSON.parse(text)).toMatchObject({ type: 'status', users: 1 });
  });

  it('one login per connection, and no more codes than prompts', async () => {
    const r = await askAgent(socket, [
      begin('alice'),
      begin('alice'),
      { type: 'verify', code: '000000' },
      { type: 'verify', code: '000000' },
      { type: 'verify', code: '000000' },
    ]);
    expect(r.map((x) => (x.type === 'error' ? x.code : x.type))).toEqual([
      'prompt',
      'OUT_OF_ORDER',
      'invalid',
      'invalid',
      'OUT_OF_ORDER',
    ]);
  });

  it('refuses an over-long line and closes that connection only', async () => {
    const res = await raw('a'.repeat(10_000));
    expect(res.closedByAgent).toBe(true);
    expect(JSON.parse(res.text.split('\n')[0]!)).toMatchObject({
      type: 'error',
      code: 'TOO_LARGE',
    });
    expect((await askAgent(socket, [begin('alice')]))[0]).toMatchObject({ type: 'prompt' });
  });

  it('at its connection cap, says "busy" (RATE_LIMITED) instead of dropping the client silently', async () => {
    await api.close();
    api = await start(5000, { maxConnections: 3 });
    const held = await Promise.all([1, 2, 3].map(() => openLogin('alice')));
    const extra = await raw(`${JSON.stringify(begin('alice'))}\n`, 30_000, true);
    expect(JSON.parse(extra.text.split('\n')[0]!)).toMatchObject({
      type: 'error',
      code: 'RATE_LIMITED',
    });
    for (const h of held) h.s.destroy();
  });

  it('one user cannot hold more than maxLoginsPerUser logins at the code prompt', async () => {
    await api.close();
    api = await start(5000, { maxLoginsPerUser: 2 });
    const held = [await openLogin('alice'), await openLogin('alice')];
    expect(held.map((h) => (h.reply as { type: string }).type)).toEqual(['prompt', 'prompt']);
    const third = await openLogin('alice');
    expect(third.reply).toMatchObject({ type: 'deny', message: expect.stringMatching(/logins/) });
    third.s.destroy();
    // A login that ends frees its slot.
    held[0]!.s.destroy();
    const load = await waitForLocalSocket(socket, 1);
    expect(load.prompts).toEqual({ alice: 1 });
    const again = await openLogin('alice');
    expect(again.reply).toMatchObject({ type: 'prompt' });
    again.s.destroy();
    held[1]!.s.destroy();
  });

  it('drops a client that sends nothing, without blocking others', async () => {
    await api.close();
    api = await start(300);
    const idle = raw('', 60_000);
    expect((await askAgent(socket, [begin('alice')]))[0]).toMatchObject({ type: 'prompt' });
    const res = await idle;
    expect(res.closedByAgent).toBe(true);
    expect(res.text).toBe('');
  });

  it('fuzz: any line gets exactly one schema-valid reply and the agent keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.json({ maxDepth: 3 }),
          fc
            .record(
              {
                type: fc.constantFrom('begin', 'verify', 'status', 'unlock'),
                v: fc.integer(),
                user: fc.string(),
                code: fc.string(),
                service: fc.string(),
              },
              { requiredKeys: ['type'] },
            )
            .map((o) => JSON.stringify(o)),
        ),
        async (line) => {
          const clean = line.replace(/[\r\n]/g, ' ');
          if (clean.trim() === '') return;
          const res = await raw(`${clean}\n`, 30_000, true);
          const lines = res.text.split('\n').filter(Boolean);
          expect(lines).toHaveLength(1);
          expect(parseLocalReply(lines[0]!).ok).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
    expect((await askAgent(socket, [begin('alice')]))[0]).toMatchObject({ type: 'prompt' });
  });
});
