/**
 * The real helper against the real agent and server: what a user sees at each outcome, and that
 * it lets a login through only on the agent's explicit yes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAgent, begin, waitFor } from '../helpers/agent.js';
import { idvctl } from '../helpers/server.js';
import { TEXT } from '../../pam-helper/text.js';
import { pamEnv, runHelper, startWorld, type World } from './helper-world.js';

/** Local time, with the day in front when the lockout ends on another day. */
const LOCKED = /^Too many failed attempts: locked until (\d{1,2} [A-Z][a-z]+ )?\d\d:\d\d$/;

let world: World;
const sock = () => ['--socket', world.agent.socket];

beforeAll(async () => {
  world = await startWorld({ maxAttempts: 3, lockoutSeconds: 900, prompts: 3, selfUnlock: false });
});
afterAll(async () => {
  await world?.stop();
});

describe('idv-pam-helper with a live agent', () => {
  it('lets a right code through (stdin, as expose_authtok gives it)', async () => {
    const u = await world.enrolled('hl-ok');
    const r = await runHelper([...sock(), '--authtok'], pamEnv(u.name), u.code());
    expect(r.stdout).not.toContain(TEXT.unavailable);
    expect(r.code).toBe(0);
  });

  it('refuses a wrong code and says how many attempts are left', async () => {
    const u = await world.enrolled('hl-wrong');
    const r = await runHelper([...sock(), '--authtok'], pamEnv(u.name), u.wrong());
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe('Wrong code, 2 attempts left');
    // The same code is not accepted twice, and a wrong one never is: the next right one is.
    const ok = await runHelper([...sock(), '--authtok'], pamEnv(u.name), u.code());
    expect(ok.code).toBe(0);
  });

  it('refuses input that is not a code without spending an attempt', async () => {
    const u = await world.enrolled('hl-typo');
    for (const input of ['hello', '12345', '', '1234567890'.repeat(20)]) {
      const r = await runHelper([...sock(), '--authtok'], pamEnv(u.name), input);
      expect(r.code).toBe(1);
      expect(r.stdout.trim()).toBe(TEXT.notACode);
    }
    // Still all three attempts: the first wrong code leaves two.
    const r = await runHelper([...sock(), '--authtok'], pamEnv(u.name), u.wrong());
    expect(r.stdout.trim()).toBe('Wrong code, 2 attempts left');
  });

  it('locks the user out after the policy attempts, with the time it ends', async () => {
    const u = await world.enrolled('hl-lock');
    const outs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await runHelper([...sock(), '--authtok'], pamEnv(u.name), u.wrong());
      expect(r.code).toBe(1);
      outs.push(r.stdout.trim());
    }
    expect(outs.slice(0, 2)).toEqual(['Wrong code, 2 attempts left', 'Wrong code, 1 attempt left']);
    expect(outs[2]).toMatch(LOCKED);
    // Even the right code is refused now (only a helpdesk code is offered: issue 15).
    const r = await runHelper([...sock(), '--authtok'], pamEnv(u.name), u.code());
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('A helpdesk code from your administrator works here');
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(LOCKED);
  });

  it('lets a user the server does not manage through without a code', async () => {
    const r = await runHelper([...sock(), '--authtok'], pamEnv('hl-nobody-knows-me'), 'whatever');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(TEXT.unavailable);
  });

  it('refuses a bad PAM environment before asking the agent', async () => {
    const bad: Record<string, string | undefined>[] = [
      pamEnv('a b'),
      pamEnv('-root'),
      { PAM_TYPE: 'auth', PAM_USER: 'alice' },
      pamEnv('alice', { PAM_SERVICE: '*' }),
      pamEnv('alice', { PAM_TTY: '/dev/pts/1\u001b]0;x' }),
    ];
    for (const env of bad) {
      const r = await runHelper([...sock(), '--authtok'], env, '123456');
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^idv-pam-helper: PAM_\w+ is/);
    }
  });

  it('refuses to run outside the auth stack', async () => {
    const r = await runHelper(sock(), pamEnv('alice', { PAM_TYPE: 'account' }));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('only runs in the auth stack (PAM_TYPE is account)');
  });

  it('refuses wrong usage with exit 2', async () => {
    const r = await runHelper([...sock(), '--fail-mode', 'open'], pamEnv('alice'));
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('--fail-mode must be secure or safe');
  });

  it('gives up after --timeout when no code comes', async () => {
    const u = await world.enrolled('hl-slow-user');
    const r = await runHelper([...sock(), '--authtok', '--timeout', '2'], pamEnv(u.name), 'open');
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe(TEXT.timedOut);
    // The admin sees how that login ended: `idvctl events` gets its outcome from the agent.
    const ended = await waitFor(async () => {
      const ev = (await idvctl(world.server, ['events', '--user', u.name])).json as {
        events: { service: string; outcome: string; reason?: string }[];
      };
      // After its `prompt` event, the outcome.
      return ev.events.find((e) => e.service === 'sshd' && e.outcome !== 'prompt');
    }, 'the outcome of the abandoned login in the events');
    expect(ended).toMatchObject({ outcome: 'deny', reason: 'abandoned' });
  });

  it('refuses when the agent hangs (per-reply timeout), unless fail-mode safe', async () => {
    const u = await world.enrolled('hl-hang');
    const agent = world.agent.process();
    agent.kill('SIGSTOP');
    try {
      // --timeout 3: a hung agent is waited for at most the start window (10 s) or the timeout.
      const secure = await runHelper(
        [...sock(), '--authtok', '--timeout', '3'],
        pamEnv(u.name),
        u.code(),
      );
      expect(secure.code).toBe(1);
      expect(secure.stdout.trim()).toBe(TEXT.unavailable);
      const safe = await runHelper(
        [...sock(), '--authtok', '--fail-mode', 'safe', '--timeout', '3'],
        pamEnv(u.name),
        u.code(),
      );
      expect(safe.code).toBe(0);
      expect(safe.stdout.trim()).toBe(TEXT.failOpen);
    } finally {
      agent.kill('SIGCONT');
    }
    // The agent answers again afterwards.
    const [r] = await askAgent(world.agent.socket, [begin(u.name)]);
    expect(r?.type).toBe('prompt');
  });

  it('with the agent down: secure refuses, safe lets the login through', async () => {
    const u = await world.enrolled('hl-down');
    await world.agent.kill('SIGTERM');
    try {
      // The helper waits for an agent that may be restarting (agent-restart-login.test.ts), at
      // most --timeout: then it refuses, or with fail-mode safe lets the login through.
      const secure = await runHelper(
        [...sock(), '--authtok', '--timeout', '2'],
        pamEnv(u.name),
        u.code(),
      );
      expect(secure.code).toBe(1);
      expect(secure.stdout.trim().split('\n')).toEqual([TEXT.waiting, TEXT.unavailable]);
      const safe = await runHelper(
        [...sock(), '--authtok', '--fail-mode', 'safe', '--timeout', '2'],
        pamEnv(u.name),
        u.wrong(),
      );
      expect(safe.code).toBe(0);
      expect(safe.stdout.trim().split('\n')).toEqual([TEXT.waiting, TEXT.failOpen]);
    } finally {
      await world.agent.restart();
    }
  });
});
