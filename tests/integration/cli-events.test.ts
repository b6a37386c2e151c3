/**
 * `idvctl events` as an admin uses it, against a real server and a simulated agent speaking the
 * real protocol: one layout for listing and following, device names, a follower that survives a
 * server restart, an admin unlock shown as an event, and `--follow | head` ending cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginEvent } from '../../protocol/messages.js';
import { waitFor } from '../helpers/agent.js';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import { SimAgent, registerDevice } from '../helpers/sim-agent.js';

let server: TestServer;
let agent: SimAgent;
const children: ChildProcess[] = [];

beforeAll(async () => {
  server = await startServer();
  agent = new SimAgent(server.url, await registerDevice(server, { name: 'web-1' }));
  await agent.connect();
  await agent.nextSync();
  expect((await idvctl(server, ['user', 'add', 'erin'])).code).toBe(0);
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await agent?.close();
  await server?.stop();
});

/** idvctl's arguments without --json; the token from a file (an argument would warn on stderr). */
function human(args: string[]): string[] {
  const tokenFile = join(server.dataDir, '..', 'admin-token');
  if (!existsSync(tokenFile)) writeFileSync(tokenFile, server.adminToken, { mode: 0o600 });
  return ['--server', server.url, '--token-file', tokenFile, ...args];
}

async function sendEvents(user: string, n: number): Promise<void> {
  const events: LoginEvent[] = Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    at: Date.now() + i,
    user,
    service: 'sshd',
    outcome: 'ok',
    rhost: '192.0.2.7',
  }));
  agent.sendEvents(events);
  await agent.next('eventsAck');
}

/** A running idvctl whose stdout and stderr lines are collected. */
function follow(args: string[]): { child: ChildProcess; out: string[]; err: () => string } {
  const child = spawn(IDVCTL_BIN, human(['events', '--follow', ...args]), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const out: string[] = [];
  let rest = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop() ?? '';
    out.push(...lines);
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out, err: () => err };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => {
    if (child.exitCode !== null) r(child.exitCode);
    else child.once('exit', (code) => r(code));
  });
}

describe('idvctl events', () => {
  it('lists and follows with the same header and columns, naming devices', async () => {
    await sendEvents('dana', 2);
    const list = await run(IDVCTL_BIN, human(['events', '--user', 'dana']));
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^AT +DEVICE +USER +SERVICE +OUTCOME +REASON +RHOST$/);
    expect(lines[1]).toContain('web-1');
    expect(lines[1]).not.toContain(agent.identity.deviceId);

    const f = follow(['--user', 'dana']);
    await waitFor(() => f.out.length >= 3, 'the follower to print the backlog', 20_000);
    expect(f.out.slice(0, 3)).toEqual(lines);
    // The device name is in --json too, beside the id.
    const json = (await idvctl(server, ['events', '--user', 'dana'])).json as {
      events: { device: string; deviceName: string }[];
    };
    expect(json.events[0]).toMatchObject({
      device: agent.identity.deviceId,
      deviceName: 'web-1',
    });
    f.child.kill('SIGTERM');
  });

  it('shows an admin unlock as an event', async () => {
    expect((await idvctl(server, ['user', 'unlock', 'erin'])).code).toBe(0);
    const r = (await idvctl(server, ['events', '--user', 'erin'])).json as {
      events: Record<string, unknown>[];
    };
    expect(r.events.at(-1)).toMatchObject({
      user: 'erin',
      outcome: 'unlock',
      reason: 'admin',
      deviceName: 'all devices',
    });
    const one = await idvctl(server, [
      'user',
      'unlock',
      'erin',
      '--device',
      agent.identity.deviceId,
    ]);
    expect(one.code).toBe(0);
    const again = (await idvctl(server, ['events', '--user', 'erin'])).json as {
      events: Record<string, unknown>[];
    };
    expect(again.events.at(-1)).toMatchObject({ outcome: 'unlock', deviceName: 'web-1' });
  });

  it('ends with exit 0 and no stack trace when the reader of its output goes away', async () => {
    await sendEvents('finn', 2);
    const head = spawn('head', ['-n', '3'], { stdio: ['pipe', 'pipe', 'ignore'] });
    children.push(head);
    let shown = '';
    head.stdout?.on('data', (d: Buffer) => (shown += d.toString()));
    const ctl = spawn(IDVCTL_BIN, human(['events', '--follow', '--user', 'finn']), {
      stdio: ['ignore', head.stdin, 'pipe'],
    });
    children.push(ctl);
    head.stdin?.destroy();
    let err = '';
    ctl.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    expect(await exited(head)).toBe(0);
    expect(shown.trimEnd().split('\n')).toHaveLength(3);
    // The pipe is closed now; the next event makes idvctl write into it.
    await sendEvents('finn', 1);
    expect(await exited(ctl)).toBe(0);
    expect(err).toBe('');
  });

  it('keeps following across a server restart and prints what happens after it', async () => {
    const f = follow(['--user', 'gail']);
    await waitFor(() => f.out.length >= 1, 'the header', 20_000);
    const url = server.url;
    await server.restart();
    // The follower can only find the server again on the same port.
    expect(server.url).toBe(url);
    await waitFor(
      () => f.err().includes('reconnecting') || f.child.exitCode !== null,
      'the follower to notice',
      30_000,
    );
    expect(f.child.exitCode, f.err()).toBe(null);
    expect((await idvctl(server, ['user', 'add', 'gail'])).code).toBe(0);
    expect((await idvctl(server, ['user', 'unlock', 'gail'])).code).toBe(0);
    const row = await waitFor(
      () => f.out.find((l) => / gail +admin +unlock +admin/.test(l)),
      'the unlock after the restart',
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nstdout: ${f.out.join('\n')}\nstderr: ${f.err()}`);
    });
    expect(row).toContain('all devices');
    expect(f.err()).toContain('event stream back');
    f.child.kill('SIGTERM');
  });
});
