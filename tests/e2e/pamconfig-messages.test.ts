// What `idv-agent pam` tells an administrator: each flag described in --help, and only the flags
// a command takes; the sshd advice naming the drop-in the README uses; a block marked for what
// it runs; and the manual page showing the line `pam enable` writes. Debian 12 files in a temp
// --pam-dir, the real ./bin/idv-agent.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { managedBlock } from '../../agent/pamconfig/plan.js';
import { isRoot } from '../helpers/require.js';

let tmp: string;
let pamDir: string;

function agent(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((done) =>
    execFile(resolve('bin/idv-agent'), args, (err, stdout, stderr) =>
      done({ code: (err as { code?: number } | null)?.code ?? 0, out: stdout + stderr }),
    ),
  );
}
const read = (service: string): string => readFileSync(join(pamDir, service), 'utf8');

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'idv-pammsg-'));
  pamDir = join(tmp, 'pam.d');
  cpSync(resolve('tests/e2e/pamconfig-fixtures/debian'), pamDir, { recursive: true });
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** The option lines of a --help: `  --flag VALUE   what it does`. */
const optionLines = (help: string): string[] =>
  help.split('\n').filter((l) => /^\s+--[a-z]/.test(l));

describe('idv-agent pam --help', () => {
  it('enable describes every flag', async () => {
    const r = await agent(['pam', 'enable', '--help']);
    expect(r.code).toBe(0);
    const lines = optionLines(r.out);
    expect(lines.length).toBeGreaterThanOrEqual(11);
    for (const l of lines) expect(l, l).toMatch(/^\s+--\S+( \S+)?\s{2,}\S.{10,}/);
    expect(r.out).toMatch(/--break-glass USER\[,USER\]\|none\s+local accounts never asked/);
  });

  it('disable and status list only their own flags, each described', async () => {
    const off = await agent(['pam', 'disable', '--help']);
    const flags = (help: string): string[] =>
      optionLines(help).map((l) => /--([a-z-]+)/.exec(l)?.[1] ?? '');
    expect(flags(off.out).filter((f) => !['help', 'version', 'json'].includes(f))).toEqual([
      'service',
      'pam-dir',
      'backup-dir',
    ]);
    const status = await agent(['pam', 'status', '--help']);
    expect(flags(status.out)).not.toContain('break-glass');
    expect(flags(status.out)).not.toContain('backup-dir');
    for (const l of [...optionLines(off.out), ...optionLines(status.out)])
      expect(l, l).toMatch(/^\s+--\S+( \S+)?\s{2,}\S/);
    // A flag disable does not take is refused, not silently ignored.
    expect(
      (await agent(['pam', 'disable', '--break-glass', 'root', '--pam-dir', pamDir])).code,
    ).toBe(2);
  });
});

describe('idv-agent pam status', () => {
  it('says to set the missing sshd lines in sshd_config.d/idv.conf, as the README does', async () => {
    const conf = join(tmp, 'sshd_config');
    writeFileSync(conf, 'UsePAM yes\nKbdInteractiveAuthentication no\n');
    const r = await agent(['pam', 'status', '--pam-dir', pamDir, '--sshd-config', conf]);
    expect(r.out).toContain('Set the missing lines in /etc/ssh/sshd_config.d/idv.conf');
    expect(r.out).not.toContain('Set the missing lines in /etc/ssh/sshd_config,');
  });
});

describe('the manual page of pam_idv', () => {
  it('shows the control word pam enable writes (requisite)', () => {
    const man = readFileSync(resolve('packaging/man/pam_idv.8'), 'utf8');
    const line = managedBlock('terminal', {
      hook: 'module',
      helper: '/usr/bin/idv-pam-helper',
      module: 'pam_idv.so',
      socket: '/run/idv/agent.sock',
    })[1] as string;
    expect(line).toBe('auth requisite pam_idv.so socket=/run/idv/agent.sock');
    expect(man).toMatch(/^\.B auth requisite pam_idv\.so$/m);
    expect(man).toContain(line.replace(/^auth requisite/, 'auth    requisite'));
    expect(man).not.toMatch(/auth\s+required\s+pam_idv/);
    expect(readFileSync(resolve('pam-module/README.md'), 'utf8')).not.toMatch(
      /auth required pam_idv/,
    );
  });
});

describe.skipIf(!isRoot)(`the block's markers${isRoot ? '' : ' (skipped: needs root)'}`, () => {
  it('a module block is not marked idv-pam-helper; an old block is found, outdated, rewritten', async () => {
    const module = join(tmp, 'pam_idv.so');
    writeFileSync(module, 'not loaded by this test', { mode: 0o644 });
    const flags = ['--pam-dir', pamDir, '--module-path', module];
    const on = await agent([
      'pam',
      'enable',
      '--service',
      'sudo',
      ...flags,
      '--backup-dir',
      join(tmp, 'b'),
    ]);
    expect(on.code, on.out).toBe(0);
    expect(read('sudo')).toContain('# idv (managed by idv-agent pam)\n');
    expect(read('sudo')).toContain('\n# end idv\n');
    expect(read('sudo')).not.toContain('idv-pam-helper');
    // A block written by an earlier idv, with the markers of the helper days.
    writeFileSync(
      join(pamDir, 'sudo'),
      read('sudo')
        .replace('# idv (managed by idv-agent pam)', '# idv-pam-helper (managed by idv-agent pam)')
        .replace('# end idv\n', '# end idv-pam-helper\n'),
    );
    expect((await agent(['pam', 'status', '--service', 'sudo', ...flags])).out).toContain(
      'sudo: outdated',
    );
    const again = await agent([
      'pam',
      'enable',
      '--service',
      'sudo',
      ...flags,
      '--backup-dir',
      join(tmp, 'b'),
    ]);
    expect(again.out).toContain('sudo: updated');
    expect(read('sudo')).not.toContain('idv-pam-helper');
    expect(read('sudo').match(/# idv \(managed/g)).toHaveLength(1);
  });
});
