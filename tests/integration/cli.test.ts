// The four programs as a user runs them from a checkout: ./bin/<name>.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../protocol/policy.js';
import { POLICY_FIELDS_WITHOUT_FLAG } from '../../server/ctl/policy.js';
import { expectVersionLine } from '../helpers/build-info.js';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};
const PROGRAMS = ['idv-server', 'idvctl', 'idv-agent', 'idv-pam-helper'];

function run(program: string, args: string[]) {
  const r = spawnSync(`./bin/${program}`, args, { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.each(PROGRAMS)('%s', (program) => {
  it('is named in package.json bin', () => {
    expect(pkg.bin[program]).toBe(`bin/${program}`);
  });

  it('answers --version with its name, the package version, the commit and the Node.js it runs on', () => {
    const r = run(program, ['--version']);
    expect(r.code).toBe(0);
    expectVersionLine(program, r.stdout);
  });

  it('answers --help with a usage text', () => {
    const r = run(program, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: ${program}`));
  });

  it('ends quietly when its stdout is closed before it writes (`| head -0`)', async () => {
    const child = spawn(`./bin/${program}`, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before the program has even started: its one write meets a pipe with no reader.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(stderr).toBe('');
    // The helper may exit 0 only on an explicit yes from the agent: a closed stdout is a refusal.
    expect(code).toBe(program === 'idv-pam-helper' ? 1 : 0);
  });

  it('refuses an unknown flag with exit code 2 and names it', () => {
    const r = run(program, ['--no-such-flag']);
    expect(r.code).toBe(2);
    // The helper prints to stdout: under pam_exec only stdout reaches the person.
    expect(program === 'idv-pam-helper' ? r.stdout : r.stderr).toContain('--no-such-flag');
  });
});

// The helper has no --json: it talks to a person through pam_exec, never to a script.
describe.each(PROGRAMS.filter((p) => p !== 'idv-pam-helper'))('%s --json', (program) => {
  it('prints a JSON error for an unknown flag', () => {
    const r = run(program, ['--json', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      error: { code: 'USAGE', message: expect.stringContaining('--no-such-flag') },
    });
  });
});

describe('option values that start with a dash', () => {
  it('are taken as values, not refused as ambiguous options', () => {
    // A token or name may start with "-"; getopt-style parsing takes the next argument as the value.
    const r = run('idvctl', [
      '--server',
      'http://127.0.0.1:1',
      '--token',
      '-abc',
      '--json',
      'user',
      'list',
    ]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('SERVER_UNREACHABLE');
  });
});

describe('help at every level, and usage errors an admin can act on', () => {
  // Nothing listens on port 1: a command that reached the network would fail with exit 1.
  const offline = ['--server', 'http://127.0.0.1:1', '--token', 'unused'];

  it('prints a group of commands its own help', () => {
    const help = run('idvctl', ['user', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: idvctl user <command>/);
    expect(help.stdout).toMatch(/^ {2}user add NAME +Add a user/m);
    expect(help.stdout).not.toContain('group list');
    // Without a command, the same help on stderr, and exit 2 (wrong usage).
    for (const [program, args, first] of [
      ['idvctl', ['user'], 'user add'],
      ['idvctl', ['device', 'token'], 'device token create'],
      ['idv-agent', ['pam'], 'pam enable'],
    ] as const) {
      const r = run(program, [...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`Usage: ${program} ${args.join(' ')} <command>`);
      expect(r.stderr).toContain(first);
      expect(r.stderr).not.toContain('unknown command');
    }
  });

  it('lists each policy flag with its allowed values and default, from the schema', () => {
    expect(POLICY_FIELDS_WITHOUT_FLAG).toEqual([]);
    const r = run('idvctl', ['policy', 'set', '--help']);
    expect(r.code).toBe(0);
    const line = (flag: string) => r.stdout.split('\n').find((l) => l.startsWith(`  --${flag} `));
    expect(line('mfa')).toMatch(/--mfa required\|off .*one of required, off \(default: required\)/);
    expect(line('max-attempts')).toMatch(/from 1 to 100 \(default: 5\)$/);
    expect(line('lockout')).toMatch(/--lockout DUR .*from 0 to 365d \(default: 15m\)$/);
    expect(line('fail-mode')).toContain(`(default: ${DEFAULT_POLICY.failMode})`);
    expect(line('enrollment-grace')).toContain('(default: 7d)');
    expect(line('services')).toContain('(default: *)');
  });

  it('suggests the command or flag that was probably meant', () => {
    const cmd = run('idvctl', ['user', 'ad', 'alice']);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toContain('unknown command "user ad" (did you mean "user add"?)');
    const flag = run('idvctl', ['user', 'add', 'alice', '--grup', 'ops']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('unknown option "--grup" (did you mean "--group"?)');
    expect(run('idv-server', ['srve']).stderr).toContain('(did you mean "serve"?)');
    expect(run('idv-pam-helper', ['--tmeout', '5']).stdout).toContain(
      '(did you mean "--timeout"?)',
    );
  });

  it('shows the usage line once, in its own words, never the parser’s', () => {
    const r = run('idvctl', ['user', 'add']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'idvctl: user add needs NAME\nusage: idvctl user add NAME [--group G]... [--admin]\n',
    );
    const value = run('idvctl', [...offline, 'user', 'add', 'alice', '--group']);
    expect(value.stderr).toBe(
      'idvctl: --group needs a value\nusage: idvctl user add NAME [--group G]... [--admin]\n',
    );
    const bool = run('idvctl', [...offline, 'user', 'list', '--json=yes']);
    expect(bool.code).toBe(2);
    for (const out of [r.stderr, value.stderr, bool.stdout + bool.stderr]) {
      expect(out).not.toMatch(/Usage:|positional argument|Option '/);
    }
  });

  it.each([
    [['policy', 'set', '--lockout', '5x'], '--lockout must be a duration'],
    [
      ['policy', 'set', '--max-attempts', '101'],
      '--max-attempts must be a whole number from 1 to 100',
    ],
    [['policy', 'set', '--mfa', 'maybe'], '--mfa must be one of required, off'],
    [['policy', 'set', '--enrollment-grace', '36h'], '--enrollment-grace must be whole days'],
    [['policy', 'set', '--user-groups', 'a b'], '--user-groups'],
    [['device', 'token', 'create', '--ttl', 'forever'], '--ttl must be a duration'],
    [['events', '--limit', '0'], '--limit must be a whole number from 1 to 10000'],
    [['events', '--since', 'yesterday'], '--since must be ISO-8601'],
    [['user', 'unlock', 'alice', '--device', 'laptop'], '--device must be a device id'],
  ])('refuses %j locally with exit 2, before any round trip', (args, message) => {
    const r = run('idvctl', [...offline, '--json', ...args]);
    expect(r.code).toBe(2);
    const error = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('USAGE');
    expect(error.message).toContain(message);
  });
});
