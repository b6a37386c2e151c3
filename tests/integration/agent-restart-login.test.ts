/**
 * Logins during an agent restart (an upgrade, a crash, `systemctl restart idv-agent`): a login
 * that arrives while the agent is away waits for it, within the helper's start window, instead of
 * being refused at once.
 *
 * - Without socket activation the socket file is gone while the agent is down: the helper says
 *   it is waiting and tries again until the new agent listens.
 * - With socket activation (packaging/systemd/idv-agent.socket) the listening socket outlives
 *   the agent: the kernel queues the login's connection and the next agent answers it. systemd
 *   cannot run as PID 1 here, so a small holder does its part, as sd_listen_fds(3) describes it:
 *   it binds and listens once, and starts each agent with the socket as fd 3, LISTEN_FDS=1 and
 *   LISTEN_PID set to the agent's own pid. Not covered: systemd's own unit handling (the units are
 *   checked with systemd-analyze verify in tests/e2e/deb-install.test.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEXT } from '../../pam-helper/text.js';
import { AGENT_BIN, waitFor } from '../helpers/agent.js';
import { HELPER_JS, pamEnv, startWorld, type EnrolledUser, type World } from './helper-world.js';

let world: World;
let user: EnrolledUser;
let step = -1;
/** Each accepted code must be of a newer time step (replay guard): hand out -1, 0, +1 in turn. */
const nextCode = (): string => user.code(step++);

beforeAll(async () => {
  world = await startWorld({ maxAttempts: 5, prompts: 1, selfUnlock: false });
  user = await world.enrolled('restart-login');
});
afterAll(async () => {
  await world?.stop();
});

/** The helper as pam_exec runs it, with its output readable while it runs. */
function startHelper(code: string, extra: string[] = []) {
  const child = spawn(
    process.execPath,
    [HELPER_JS, '--socket', world.agent.socket, '--authtok', ...extra],
    { env: pamEnv(user.name), stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stdin.end(code);
  const done = new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  return { child, out: () => stdout, done };
}

describe('a login while the agent restarts (no socket activation)', () => {
  it('waits for the agent to come back and is decided by it', async () => {
    await world.agent.kill('SIGTERM');
    const login = startHelper(nextCode());
    // The dangerous moment: the helper found no agent and is waiting (before this change it
    // printed "Verification service unavailable" and exited 1 here).
    await waitFor(() => login.out().includes(TEXT.waiting), 'the helper to wait for the agent');
    expect(login.child.exitCode).toBeNull();
    await world.agent.restart();
    expect(await login.done).toBe(0);
    expect(login.out()).not.toContain(TEXT.unavailable);
  });

  it('an agent that does not come back within the window is a refusal (fail closed)', async () => {
    await world.agent.kill('SIGTERM');
    try {
      const login = startHelper(nextCode(), ['--timeout', '2']);
      expect(await login.done).toBe(1);
      expect(login.out().trim().split('\n')).toEqual([TEXT.waiting, TEXT.unavailable]);
    } finally {
      await world.agent.restart();
    }
  });
});

/**
 * systemd's part in socket activation: holds one listening socket at PATH for its whole life and
 * starts agents on it. stdin commands: `start` (an agent with the socket as fd 3), `kill`
 * (SIGKILL and wait). Agent output goes to the holder's stdout.
 */
const HOLDER = `
import os, signal, socket, subprocess, sys
path, agent = sys.argv[1], sys.argv[2:]
old = os.umask(0o177)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.umask(old)
s.listen(256)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
print("holder listening", flush=True)
child = None
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "start":
        child = subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", *agent], pass_fds=(3,))
    elif cmd == "kill" and child:
        child.send_signal(signal.SIGKILL)
        child.wait()
        print("holder: agent exited", flush=True)
if child and child.poll() is None:
    child.terminate()
    child.wait()
`;

interface Holder {
  proc: ChildProcess;
  out(): string;
  send(cmd: string): void;
  /** Waits for the n-th occurrence of `text` in the output. */
  waitOut(text: string | RegExp, n?: number): Promise<unknown>;
}

function startHolder(agentArgs: string[]): Holder {
  const proc = spawn('python3', ['-c', HOLDER, world.agent.socket, ...agentArgs], {
    env: { ...process.env, IDV_LOG_LEVEL: 'debug' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let text = '';
  proc.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const count = (t: string | RegExp): number =>
    typeof t === 'string'
      ? text.split(t).length - 1
      : (text.match(new RegExp(t.source, 'gm')) ?? []).length;
  return {
    proc,
    out: () => text,
    send: (cmd) => proc.stdin?.write(`${cmd}\n`),
    waitOut: (t, n = 1) => waitFor(() => count(t) >= n, `${String(t)} x${n} in:\n${text}`),
  };
}

/** Connections waiting in the listening socket's accept queue (ss: Recv-Q of a LISTEN socket). */
function queued(path: string): number {
  const r = spawnSync('ss', ['-xlnH'], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.includes(` ${path} `));
  return line ? Number(line.trim().split(/\s+/)[2]) : -1;
}

const READY = /^idv-agent listening on /m;
const hasSs = spawnSync('ss', ['-V']).status === 0;

describe('a login while the agent restarts (socket activation)', () => {
  it.skipIf(!hasSs)(
    'waits in the socket systemd holds and is answered by the next agent',
    async () => {
      await world.agent.kill('SIGTERM');
      const args = ['run', '--data-dir', world.agent.dataDir, '--socket', world.agent.socket];
      const holder = startHolder([AGENT_BIN, ...args]);
      try {
        await holder.waitOut('holder listening');
        holder.send('start');
        await holder.waitOut(READY);
        expect(holder.out()).toContain('local socket from systemd (socket activation)');

        // The agent dies; the socket stays. A login now connects at once and waits in the queue.
        holder.send('kill');
        await holder.waitOut('holder: agent exited');
        const login = startHelper(nextCode());
        await waitFor(() => queued(world.agent.socket) === 1, 'the login to wait in the queue');
        expect(login.out()).toBe(''); // no "waiting" line: its connection was accepted by the kernel
        expect(login.child.exitCode).toBeNull();

        holder.send('start');
        expect(await login.done).toBe(0);
        expect(login.out()).not.toContain(TEXT.unavailable);
        await holder.waitOut(READY, 2);
      } finally {
        holder.proc.stdin?.end();
        await new Promise((r) => holder.proc.once('close', r));
      }
      await world.agent.restart();
    },
  );

  it('refuses to start on a socket that others may use', async () => {
    await world.agent.kill('SIGTERM');
    const args = ['run', '--data-dir', world.agent.dataDir, '--socket', world.agent.socket];
    const holder = startHolder([AGENT_BIN, ...args]);
    try {
      await holder.waitOut('holder listening');
      chmodSync(world.agent.socket, 0o666);
      holder.send('start');
      await holder.waitOut(/must be owned by uid \d+ with mode 0600 \(SocketMode=0600/);
      expect(holder.out()).not.toMatch(READY);
    } finally {
      holder.proc.stdin?.end();
      await new Promise((r) => holder.proc.once('close', r));
    }
    await world.agent.restart();
  });
});
