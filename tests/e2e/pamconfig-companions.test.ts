// `sudo -i` runs its own PAM file on Debian 12 (sudo-i, with its own `@include common-auth`), and
// pkexec runs polkit-1: `idv-agent pam enable|status` and `doctor` must not leave such a way in
// that skips the code unnamed. Copies of Debian 12's files in a temp --pam-dir, the real
// ./bin/idv-agent. tests/e2e/pam-sudo.test.ts runs the real sudo on what enable writes.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withPamFlags } from './pam-flags.js';

const FIXTURES = resolve('tests/e2e/pamconfig-fixtures');
const HELPER = resolve('bin/idv-pam-helper');

let tmp: string;
let pamDir: string;

function agent(args: string[]): Promise<{ code: number; out: string }> {
  const flags: [string, string][] = [
    ['hook', 'exec'],
    ['helper', HELPER],
    ['backup-dir', join(tmp, 'b')],
  ];
  return new Promise((done) =>
    execFile(
      resolve('bin/idv-agent'),
      [...withPamFlags(args, flags), '--pam-dir', pamDir],
      (err, stdout, stderr) =>
        done({ code: (err as { code?: number } | null)?.code ?? 0, out: stdout + stderr }),
    ),
  );
}

const read = (service: string): string => readFileSync(join(pamDir, service), 'utf8');

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'idv-companions-'));
  pamDir = join(tmp, 'pam.d');
  cpSync(join(FIXTURES, 'debian'), pamDir, { recursive: true });
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('pam enable covers what authenticates like the service named', () => {
  it('--service sudo wires sudo-i too and says which command runs it; disable takes both out', async () => {
    const before = read('sudo-i');
    const on = await agent(['pam', 'enable', '--service', 'sudo']);
    expect(on.code, on.out).toBe(0);
    expect(on.out).toContain('sudo: added: after "@include common-auth"');
    expect(on.out).toMatch(
      /sudo-i: added: after "@include common-auth" \(backup: [^)]+\) \(`sudo -i` runs this file\)/,
    );
    expect(read('sudo-i')).toContain(`auth requisite pam_exec.so quiet stdout seteuid ${HELPER}`);
    expect(on.out).not.toContain('WARNING');
    const status = await agent(['pam', 'status', '--service', 'sudo']);
    expect(status.out).toContain('sudo-i: enabled (pam_exec + idv-pam-helper)');
    const off = await agent(['pam', 'disable', '--service', 'sudo']);
    expect(off.code).toBe(0);
    expect(read('sudo-i')).toBe(before);
  });

  it('su-l runs su’s auth lines: covered through su, reported so by status', async () => {
    const on = await agent(['pam', 'enable', '--service', 'su']);
    expect(on.out).toContain('su-l: unchanged: runs the auth lines of su ("auth include su")');
    const status = await agent(['pam', 'status', '--service', 'su-l']);
    expect(status.out).toContain(
      'su-l: enabled (pam_exec + idv-pam-helper): through su ("auth include su"): (after "@include common-auth")',
    );
  });

  it('status and doctor name a sudo-i left without the code loudly; enable closes it', async () => {
    await agent(['pam', 'enable', '--service', 'sudo']);
    // As an older idv, or an administrator by hand, left it: sudo asks, sudo -i does not.
    await agent(['pam', 'disable', '--service', 'sudo-i']);
    const status = await agent(['pam', 'status', '--service', 'sudo']);
    expect(status.out).toContain('sudo-i: disabled');
    expect(status.out).toContain(
      'WARNING: sudo-i: `sudo -i` asks for the password alone: sudo-i has a password step of its own and no idv lines, while sudo asks for the code; run `idv-agent pam enable --service sudo`',
    );
    const doctor = await agent(['doctor', '--data-dir', join(tmp, 'data')]);
    expect(doctor.code).toBe(1);
    expect(doctor.out).toMatch(/FAIL +PAM gap sudo-i: `sudo -i` asks for the password alone/);

    const fix = await agent(['pam', 'enable', '--service', 'sudo']);
    expect(fix.out).toContain('sudo-i: added');
    expect((await agent(['pam', 'status', '--service', 'sudo'])).out).not.toContain('WARNING');
    expect((await agent(['doctor', '--data-dir', join(tmp, 'data')])).out).not.toContain('PAM gap');
  });

  it('names pkexec (polkit-1), which idv does not wire, when sudo asks for the code', async () => {
    cpSync(join(FIXTURES, 'polkit-1'), join(pamDir, 'polkit-1'));
    const on = await agent(['pam', 'enable', '--service', 'sudo']);
    expect(on.code).toBe(0);
    expect(on.out).toContain(
      'WARNING: polkit-1: `pkexec` (PAM service polkit-1) makes an administrator root with the password alone, while sudo asks for the code',
    );
    const json = await agent(['pam', 'status', '--json']);
    expect(
      (JSON.parse(json.out) as { gaps: { service: string }[] }).gaps.map((g) => g.service),
    ).toEqual(['polkit-1']);
    expect((await agent(['doctor', '--data-dir', join(tmp, 'data')])).out).toMatch(
      /WARN +PAM gap polkit-1: `pkexec`/,
    );
    // Covered by hand as docs/pam.md shows: no longer named.
    writeFileSync(
      join(pamDir, 'polkit-1'),
      read('polkit-1').replace(
        '@include common-auth\n',
        '@include common-auth\nauth requisite pam_idv.so socket=/run/idv/agent.sock\n',
      ),
    );
    expect((await agent(['pam', 'status'])).out).not.toContain('WARNING');
  });
});
