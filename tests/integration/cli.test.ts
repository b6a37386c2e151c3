// The four programs as a user runs them from a checkout: ./bin/<name>.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

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

  it('answers --version with the package version', () => {
    const r = run(program, ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
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
