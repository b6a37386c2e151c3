// `idv-agent pam enable|disable|status` against copies of real Debian 12 and RHEL 9 PAM files in a
// temp --pam-dir (never the machine's /etc/pam.d), through the real ./bin/idv-agent.
import { execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyPlan, DEFAULT_MODULE_DIRS } from '../../agent/pamconfig/apply.js';
import { MARK_BEGIN, MARK_END, planEnable } from '../../agent/pamconfig/plan.js';
import { parseStack } from '../../agent/pamconfig/stack.js';

const FIXTURES = resolve('tests/e2e/pamconfig-fixtures');
const HELPER = resolve('bin/idv-pam-helper');
const SOCKET = '/run/idv/agent.sock';

let tmp: string;
let pamDir: string;
let backupDir: string;
let sshdConfig: string;

function agent(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      resolve('bin/idv-agent'),
      [
        ...args,
        '--pam-dir',
        pamDir,
        '--backup-dir',
        backupDir,
        '--helper',
        HELPER,
        '--socket',
        SOCKET,
        '--sshd-config',
        sshdConfig,
      ],
      (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function setup(layout: 'debian' | 'rhel'): void {
  cpSync(join(FIXTURES, layout), pamDir, { recursive: true });
}

const read = (service: string): string => readFileSync(join(pamDir, service), 'utf8');
const lines = (service: string): string[] => read(service).split('\n');
/** The line right after the idv block, and the one right before it. */
function around(service: string): { before: string; after: string } {
  const l = lines(service);
  const b = l.indexOf(MARK_BEGIN);
  const e = l.indexOf(MARK_END);
  expect(b).toBeGreaterThanOrEqual(0);
  return { before: (l[b - 1] ?? '').trim(), after: (l[e + 1] ?? '').trim() };
}

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'idv-pamconfig-'));
  pamDir = join(tmp, 'pam.d');
  backupDir = join(tmp, 'backups');
  mkdirSync(pamDir);
  mkdirSync(join(tmp, 'sshd_config.d'));
  sshdConfig = join(tmp, 'sshd_config');
  // Debian's shipped defaults, with a drop-in that turns keyboard-interactive on: the drop-in is
  // read first (Include comes first), so its value wins, as in sshd.
  writeFileSync(
    sshdConfig,
    `Include ${tmp}/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n`,
  );
  writeFileSync(
    join(tmp, 'sshd_config.d', '50-idv.conf'),
    'KbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n',
  );
});

afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('idv-agent pam on Debian 12 files', () => {
  it('enables sudo, su and login after the password, with 0600 backups; sshd only once sshd_config requires a key', async () => {
    setup('debian');
    // A drop-in that allows keyboard-interactive but does not require a key first.
    writeFileSync(join(tmp, 'sshd_config.d', '50-idv.conf'), 'KbdInteractiveAuthentication yes\n');
    const originals = Object.fromEntries(['sudo', 'su', 'login', 'sshd'].map((s) => [s, read(s)]));
    const r = await agent(['pam', 'enable']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    for (const s of ['sudo', 'su', 'login']) {
      expect(r.stdout).toContain(`${s}: added: after "@include common-auth"`);
      expect(around(s).before).toBe('@include common-auth');
      expect(read(s)).toContain(
        `auth requisite pam_exec.so quiet stdout seteuid ${HELPER} --socket ${SOCKET}`,
      );
    }
    // sshd: refused, untouched, with the sshd_config line it lacks.
    expect(r.stdout).toContain('sshd: refused: sshd_config must require a key');
    expect(read('sshd')).toBe(originals.sshd);
    expect(r.stdout).toMatch(/ok +UsePAM yes/);
    expect(r.stdout).toMatch(/ok +KbdInteractiveAuthentication yes/);
    expect(r.stdout).toMatch(/MISSING AuthenticationMethods publickey,keyboard-interactive/);
    // One backup per changed file, private, equal to the original.
    const backups = readdirSync(backupDir);
    expect(backups).toHaveLength(3);
    for (const b of backups) {
      const service = b.split('.')[0] as string;
      expect(readFileSync(join(backupDir, b), 'utf8')).toBe(originals[service]);
      expect(statSync(join(backupDir, b)).mode & 0o777).toBe(0o600);
    }

    // With the key required, sshd gets key + code: the block takes the password's place.
    writeFileSync(
      join(tmp, 'sshd_config.d', '50-idv.conf'),
      'KbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n',
    );
    const again = await agent(['pam', 'enable']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('sshd: added: in place of "@include common-auth"');
    expect(again.stdout).toMatch(/ok +AuthenticationMethods publickey,keyboard-interactive/);
    const sshd = read('sshd');
    expect(sshd).toContain('#idv-replaced: @include common-auth');
    expect(sshd).not.toMatch(/^@include common-auth/m);
    expect(sshd).toMatch(/^auth optional pam_echo\.so .+$/m);
    expect(sshd).toContain(`expose_authtok ${HELPER} --authtok --socket ${SOCKET}`);
    expect(sshd).toMatch(/^auth optional pam_permit\.so$/m);
    expect(around('sshd').before).toBe('# Standard Un*x authentication.');
  });

  it('is idempotent, reports status, and disable gives back the original files', async () => {
    setup('debian');
    const originals = Object.fromEntries(['sudo', 'sshd'].map((s) => [s, read(s)]));
    expect((await agent(['pam', 'enable', '--service', 'sudo,sshd'])).code).toBe(0);
    const enabled = read('sudo');
    const again = await agent(['pam', 'enable', '--service', 'sudo,sshd']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('sudo: unchanged: already enabled');
    expect(read('sudo')).toBe(enabled);
    expect(readdirSync(backupDir)).toHaveLength(2); // no backup when nothing changes

    const status = await agent(['pam', 'status', '--json', '--service', 'sudo,sshd,su']);
    const parsed = JSON.parse(status.stdout) as { services: { service: string; state: string }[] };
    expect(parsed.services.map((s) => [s.service, s.state])).toEqual([
      ['sudo', 'enabled'],
      ['sshd', 'enabled'],
      ['su', 'disabled'],
    ]);

    const off = await agent(['pam', 'disable', '--service', 'sudo,sshd']);
    expect(off.code).toBe(0);
    expect(read('sudo')).toBe(originals.sudo);
    expect(read('sshd')).toBe(originals.sshd);
    expect((await agent(['pam', 'disable', '--service', 'sudo'])).stdout).toContain(
      'sudo: unchanged: not enabled',
    );
  });

  it('rewrites an outdated block (another helper path) in place', async () => {
    setup('debian');
    await agent(['pam', 'enable', '--service', 'sudo']);
    writeFileSync(join(pamDir, 'sudo'), read('sudo').replace(HELPER, '/opt/old/idv-pam-helper'));
    const status = await agent(['pam', 'status', '--service', 'sudo']);
    expect(status.stdout).toContain('sudo: outdated');
    const r = await agent(['pam', 'enable', '--service', 'sudo']);
    expect(r.stdout).toContain('sudo: updated');
    expect(read('sudo')).not.toContain('/opt/old');
    expect(read('sudo').split(MARK_BEGIN)).toHaveLength(2);
  });
});

describe('idv-agent pam --break-glass', () => {
  it('adds a skip for the accounts, keeps it on a later enable, and removes it with "none"', async () => {
    setup('debian');
    const skipLine = 'auth [success=1 default=ignore] pam_succeed_if.so quiet user in root:rescue';
    expect(
      (await agent(['pam', 'enable', '--service', 'sudo', '--break-glass', 'root,rescue'])).code,
    ).toBe(0);
    const l = lines('sudo');
    expect(l[l.indexOf(MARK_BEGIN) + 1]).toBe(skipLine);
    expect(l[l.indexOf(MARK_BEGIN) + 2]).toMatch(/pam_exec\.so/);
    const again = await agent(['pam', 'enable', '--service', 'sudo']);
    expect(again.stdout).toContain('sudo: unchanged');
    expect(read('sudo')).toContain(skipLine);
    expect((await agent(['pam', 'status', '--service', 'sudo'])).stdout).toContain('sudo: enabled');
    await agent(['pam', 'enable', '--service', 'sudo', '--break-glass', 'none']);
    expect(read('sudo')).not.toContain('pam_succeed_if');
    const bad = await agent(['pam', 'enable', '--service', 'sudo', '--break-glass', 'root;rm']);
    expect(bad.code).toBe(2);
  });
});

describe('idv-agent pam writes the stacks the PAM end-to-end tests run', () => {
  /** The auth part of a stack: what decides whether the code is asked, and when. */
  const authPart = (text: string): string[] =>
    parseStack(text).flatMap((l) =>
      l.kind === 'include' && l.target === 'common-auth'
        ? ['@include common-auth']
        : l.kind === 'rule' && l.type === 'auth'
          ? [[l.control, l.module, ...l.args].join(' ')]
          : [],
    );
  const snippet = (name: string): string =>
    readFileSync(resolve('packaging/pam/debian', name), 'utf8').replaceAll(
      '/usr/bin/idv-pam-helper',
      HELPER,
    );

  it('sudo and sshd (key + code) match packaging/pam/debian, tested there with real PAM and sshd', async () => {
    setup('debian');
    expect((await agent(['pam', 'enable', '--service', 'sudo,sshd'])).code).toBe(0);
    expect(authPart(read('sudo'))).toEqual(authPart(snippet('sudo')));
    expect(authPart(read('sshd'))).toEqual(authPart(snippet('sshd-publickey-code')));
  });
});

describe('idv-agent pam on RHEL 9 files', () => {
  it('puts the line before `include system-auth` (its sufficient pam_unix would skip it) and after a substack', async () => {
    setup('rhel');
    const r = await agent(['pam', 'enable']);
    expect(r.code).toBe(0);
    expect(around('sudo').after).toBe('auth       include      system-auth');
    expect(r.stdout).toContain('sudo: added: before "auth include system-auth"');
    expect(around('su').before).toBe('auth\t\tsubstack\tsystem-auth');
    expect(around('login').before).toBe('auth       substack     system-auth');
    expect(around('sshd').after).toBe('auth       include      postlogin');
    expect(read('sshd')).toContain('#idv-replaced: auth       substack     password-auth');
    expect(read('sshd')).not.toMatch(/^auth\s+substack\s+password-auth/m);
  });
});

describe('idv-agent pam refuses what it cannot do safely', () => {
  it('refuses an unknown layout, prints the lines to add by hand and changes nothing', async () => {
    cpSync(join(FIXTURES, 'unknown-sudo'), join(pamDir, 'sudo'));
    const before = read('sudo');
    const r = await agent(['pam', 'enable', '--service', 'sudo']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('sudo: refused: unknown layout');
    expect(r.stdout).toContain('by hand');
    expect(r.stdout).toContain(`auth requisite pam_exec.so quiet stdout seteuid ${HELPER}`);
    expect(read('sudo')).toBe(before);
    expect(() => readdirSync(backupDir)).toThrow();
  });

  it('refuses a block whose markers were edited by hand', async () => {
    setup('debian');
    writeFileSync(join(pamDir, 'sudo'), `${read('sudo')}${MARK_BEGIN}\n`);
    const before = read('sudo');
    const r = await agent(['pam', 'enable', '--service', 'sudo']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('edited by hand');
    expect(read('sudo')).toBe(before);
  });

  it('refuses a helper path that does not exist, before touching any file', async () => {
    setup('debian');
    const before = read('sudo');
    const r = await new Promise<{ code: number; out: string }>((done) =>
      execFile(
        resolve('bin/idv-agent'),
        [
          'pam',
          'enable',
          '--pam-dir',
          pamDir,
          '--backup-dir',
          backupDir,
          '--helper',
          '/nope/idv-pam-helper',
        ],
        (err, stdout, stderr) =>
          done({ code: (err as { code?: number } | null)?.code ?? 0, out: stdout + stderr }),
      ),
    );
    expect(r.code).toBe(1);
    expect(r.out).toContain('/nope/idv-pam-helper does not exist');
    expect(read('sudo')).toBe(before);
  });

  it('fails on a service named explicitly that has no file', async () => {
    setup('debian');
    const r = await agent(['pam', 'enable', '--service', 'sudo,gdm-password']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('gdm-password: refused');
  });

  it('puts the backup back when the written file does not check out', () => {
    setup('debian');
    const path = join(pamDir, 'sudo');
    const before = read('sudo');
    const options = {
      pamDir,
      backupDir,
      helper: HELPER,
      socket: SOCKET,
      moduleDirs: DEFAULT_MODULE_DIRS,
      now: () => new Date(),
    };
    const plan = planEnable(before, 'terminal', options, (n) =>
      readFileSync(join(pamDir, n), 'utf8'),
    );
    const res = applyPlan(
      'sudo',
      path,
      before,
      plan,
      options,
      () => 'simulated check failure',
      'added',
    );
    expect(res.outcome).toBe('failed');
    expect(res.message).toContain('restored from the backup');
    expect(read('sudo')).toBe(before);
  });
});
