import { describe, expect, it } from 'vitest';
import { NAME_RE as POLICY_NAME_RE } from '../../protocol/policy.js';
import { IdvError } from '../../protocol/errors.js';
import {
  DEFAULT_SOCKET,
  NAME_RE,
  parseHelperArgs,
  parseLoginEnv,
  terminalDevice,
} from '../../pam-helper/options.js';

const run = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseHelperArgs(argv, env);
  if (r.kind !== 'run') throw new Error(`expected run, got ${r.kind}`);
  return r.options;
};
const usage = (argv: string[]): string => {
  try {
    parseHelperArgs(argv, {});
  } catch (err) {
    expect(err).toBeInstanceOf(IdvError);
    expect((err as IdvError).code).toBe('USAGE');
    return (err as IdvError).message;
  }
  throw new Error('expected a usage error');
};

describe('helper command line', () => {
  it('defaults to the system socket, secure, 60 s, terminal path', () => {
    expect(run([])).toEqual({
      socket: DEFAULT_SOCKET,
      authtok: false,
      failMode: 'secure',
      timeoutMs: 60_000,
    });
  });

  it('takes every documented flag', () => {
    expect(
      run(['--socket', '/tmp/a.sock', '--authtok', '--fail-mode', 'safe', '--timeout', '5']),
    ).toEqual({ socket: '/tmp/a.sock', authtok: true, failMode: 'safe', timeoutMs: 5000 });
  });

  it('ignores IDV_SOCKET: the PAM environment (pam_env user_readenv, the application) is not trusted', () => {
    // A socket chosen by the environment could be a fake agent of the user's that answers `skip`.
    expect(run([], { IDV_SOCKET: '/home/mallory/fake.sock' }).socket).toBe(DEFAULT_SOCKET);
    expect(run(['--socket', '/y/s'], { IDV_SOCKET: '/x/s' }).socket).toBe('/y/s');
  });

  it('refuses wrong usage with a reason', () => {
    expect(usage(['--fail-mode', 'open'])).toMatch(/secure or safe/);
    expect(usage(['--timeout', '0'])).toMatch(/--timeout/);
    expect(usage(['--timeout', 'soon'])).toMatch(/--timeout/);
    expect(usage(['--bogus'])).toMatch(/bogus/);
    expect(usage(['extra'])).toMatch(/unexpected argument/);
    expect(usage(['--socket', ''])).toMatch(/--socket/);
  });

  it('answers --help and --version', () => {
    expect(parseHelperArgs(['--help'], {}).kind).toBe('help');
    expect(parseHelperArgs(['--version'], {}).kind).toBe('version');
  });
});

describe('PAM environment', () => {
  const base = { PAM_TYPE: 'auth', PAM_USER: 'alice', PAM_SERVICE: 'sudo' };

  it('accepts what pam_exec sets', () => {
    expect(parseLoginEnv({ ...base, PAM_TTY: '/dev/pts/3', PAM_RHOST: '10.0.0.1' })).toEqual({
      ok: true,
      value: { user: 'alice', service: 'sudo', tty: '/dev/pts/3', rhost: '10.0.0.1' },
    });
    // Empty optional variables are as good as absent.
    expect(parseLoginEnv({ ...base, PAM_TTY: '', PAM_RHOST: '' })).toEqual({
      ok: true,
      value: { user: 'alice', service: 'sudo' },
    });
  });

  it('refuses any PAM_TYPE but auth, saying why', () => {
    for (const t of ['account', 'session', 'password', 'open_session']) {
      const r = parseLoginEnv({ ...base, PAM_TYPE: t });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toContain(`PAM_TYPE is ${t}`);
    }
    const missing = parseLoginEnv({ PAM_USER: 'alice', PAM_SERVICE: 'sudo' });
    expect(!missing.ok && missing.message).toMatch(/auth stack.*not set/);
  });

  it('refuses a bad user or service without echoing it', () => {
    for (const user of ['', '-rf', 'a b', 'x'.repeat(65), 'hunter2\n', 'é']) {
      const r = parseLoginEnv({ ...base, PAM_USER: user });
      expect(r.ok).toBe(false);
      if (!r.ok && user) expect(r.message).not.toContain(user);
    }
    expect(parseLoginEnv({ ...base, PAM_USER: undefined as unknown as string }).ok).toBe(false);
    for (const service of ['', '*', 'a/b', '../x'])
      expect(parseLoginEnv({ ...base, PAM_SERVICE: service }).ok).toBe(false);
  });

  it('refuses control characters or overlong PAM_TTY / PAM_RHOST', () => {
    expect(parseLoginEnv({ ...base, PAM_TTY: '/dev/pts/1\x1b[2J' }).ok).toBe(false);
    expect(parseLoginEnv({ ...base, PAM_RHOST: 'h'.repeat(257) }).ok).toBe(false);
  });

  it('uses the same user-name rule as the policy', () => {
    expect(NAME_RE.source).toBe(POLICY_NAME_RE.source);
  });
});

describe('terminal device from PAM_TTY', () => {
  it('maps terminal names to devices', () => {
    expect(terminalDevice('/dev/pts/3')).toBe('/dev/pts/3');
    expect(terminalDevice('pts/12')).toBe('/dev/pts/12');
    expect(terminalDevice('tty1')).toBe('/dev/tty1');
    expect(terminalDevice('/dev/tty2')).toBe('/dev/tty2');
    expect(terminalDevice('ttyS0')).toBe('/dev/ttyS0');
  });

  it('finds no terminal for ssh, displays or anything else', () => {
    for (const t of [
      undefined,
      '',
      'ssh',
      ':0',
      '/dev/null',
      '/etc/shadow',
      '/dev/pts/../sda',
      'tty',
    ])
      expect(terminalDevice(t)).toBeNull();
  });
});
