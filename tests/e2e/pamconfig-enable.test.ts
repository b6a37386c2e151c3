// `idv-agent pam enable|disable|status` against copies of real Debian 12 and RHEL 9 PAM files in a
// temp --pam-dir (never the machine's /etc/pam.d), through the real ./bin/idv-agent.
import { execFile } from 'node:child_process';
import {
  chmodSync,
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
import {
  GATE_LINE,
  GATE_SERVICE,
  gateFile,
  MARK_BEGIN,
  MARK_END,
  planEnable,
} from '../../agent/pamconfig/plan.js';
import { parseStack } from '../../agent/pamconfig/stack.js';
import { isRoot } from '../helpers/require.js';
import { withPamFlags } from './pam-flags.js';

const FIXTURES = resolve('tests/e2e/pamconfig-fixtures');
const HELPER = resolve('bin/idv-pam-helper');
const SOCKET = '/run/idv/agent.sock';

let tmp: string;
let pamDir: string;
let backupDir: string;
let sshdConfig: string;

/** The real agent with this test's paths; pam_exec unless the arguments choose a hook. */
function agent(
  args: string[],
  more: [string, string][] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const all = [...args, ...more.map(([name]) => `--${name}`)];
  const hook: [string, string][] = all.some((a) => /^--(hook|module|module-path)$/.test(a))
    ? []
    : [['hook', 'exec']];
  return new Promise((done) => {
    execFile(
      resolve('bin/idv-agent'),
      withPamFlags(args, [
        ...more,
        ...hook,
        ['pam-dir', pamDir],
        ['backup-dir', backupDir],
        ['helper', HELPER],
        ['socket', SOCKET],
        ['sshd-config', sshdConfig],
      ]),
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
    const originals = Object.fromEntries(
      ['sudo', 'sudo-i', 'su', 'login', 'sshd'].map((s) => [s, read(s)]),
    );
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
    // sudo brings sudo-i along (`sudo -i` runs it, with its own password step); su-l runs su's
    // auth lines, so su covers it.
    expect(r.stdout).toContain('sudo-i: added: after "@include common-auth"');
    expect(around('sudo-i').before).toBe('@include common-auth');
    expect(r.stdout).toContain(
      'su-l: unchanged: runs the auth lines of su ("auth include su"): it asks for the code whenever su does',
    );
    expect(read('su-l')).not.toContain('idv');
    // One backup per changed file, private, equal to the original.
    const backups = readdirSync(backupDir);
    expect(backups).toHaveLength(4);
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
    const originals = Object.fromEntries(['sudo', 'sudo-i', 'sshd'].map((s) => [s, read(s)]));
    expect((await agent(['pam', 'enable', '--service', 'sudo,sshd'])).code).toBe(0);
    const enabled = read('sudo');
    const again = await agent(['pam', 'enable', '--service', 'sudo,sshd']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('sudo: unchanged: already enabled');
    expect(read('sudo')).toBe(enabled);
    expect(readdirSync(backupDir)).toHaveLength(3); // no backup when nothing changes

    const status = await agent(['pam', 'status', '--json', '--service', 'sudo,sshd,su']);
    const parsed = JSON.parse(status.stdout) as { services: { service: string; state: string }[] };
    expect(parsed.services.map((s) => [s.service, s.state])).toEqual([
      ['sudo', 'enabled'],
      ['sudo-i', 'enabled'],
      ['sshd', 'enabled'],
      ['su', 'disabled'],
      ['su-l', 'disabled'],
    ]);

    const off = await agent(['pam', 'disable', '--service', 'sudo,sshd']);
    expect(off.code).toBe(0);
    expect(read('sudo')).toBe(originals.sudo);
    expect(read('sudo-i')).toBe(originals['sudo-i']);
    expect(read('sshd')).toBe(originals.sshd);
    expect(off.stdout).toContain(
      'sudo: idv lines removed; the file is as it was before `pam enable` (backup: ',
    );
    expect(off.stdout).not.toContain('removed: removed');
    expect((await agent(['pam', 'disable', '--service', 'sudo'])).stdout).toContain(
      'sudo: not enabled; nothing to change',
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
    const skipLine = 'auth [success=1 default=ignore] pam_succeed_if.so quiet user in root:daemon';
    expect(
      (await agent(['pam', 'enable', '--service', 'sudo', '--break-glass', 'root,daemon'])).code,
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

  it('refuses an account that does not exist, says how to create it, and changes nothing', async () => {
    setup('debian');
    const before = read('sudo');
    const name = `idvnone${process.pid}`;
    const r = await agent(['pam', 'enable', '--service', 'sudo', '--break-glass', `root,${name}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`there is no local account ${name}`);
    expect(r.stderr).toContain(`useradd --create-home --shell /bin/bash ${name} && passwd ${name}`);
    expect(read('sudo')).toBe(before);
    expect(() => readdirSync(backupDir)).toThrow();
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
  /** pam_idv.so for the password gate's lines (these tests edit files only; PAM never loads it). */
  const gateModule = (): string => {
    const module = join(tmp, 'pam_idv.so');
    writeFileSync(module, 'not loaded by these tests', { mode: 0o644 });
    return module;
  };

  it('puts the line before `include system-auth` (its sufficient pam_unix would skip it) and after a substack, behind the password gate', async () => {
    setup('rhel');
    const originals = Object.fromEntries(['sudo', 'su', 'login'].map((s) => [s, read(s)]));
    const module = gateModule();
    const r = await agent(['pam', 'enable', '--hook', 'exec', '--module-path', module]);
    expect(r.code, r.stdout).toBe(0);
    expect(around('sudo').after).toBe('auth       include      system-auth');
    expect(r.stdout).toContain('sudo: added: before "auth include system-auth"');
    expect(around('su').before).toBe('auth\t\tsubstack\tsystem-auth');
    expect(around('login').before).toBe('auth       substack     system-auth');
    expect(r.stdout).toContain(
      'login: added: after "auth substack system-auth", behind the password gate',
    );
    // After a substack, the block starts with the gate; the gate file is written beside it.
    for (const s of ['su', 'login']) {
      const l = lines(s);
      expect(l[l.indexOf(MARK_BEGIN) + 1]).toBe(GATE_LINE);
    }
    expect(read('sudo')).not.toContain(GATE_LINE);
    expect(read(GATE_SERVICE)).toBe(gateFile(module));
    // The hand-install copy in packaging/pam/rhel is the same file.
    expect(readFileSync(resolve('packaging/pam/rhel', GATE_SERVICE), 'utf8')).toBe(
      gateFile('pam_idv.so'),
    );
    expect(statSync(join(pamDir, GATE_SERVICE)).mode & 0o777).toBe(0o644);
    expect(around('sshd').after).toBe('auth       include      postlogin');
    expect(read('sshd')).toContain('#idv-replaced: auth       substack     password-auth');
    expect(read('sshd')).not.toMatch(/^auth\s+substack\s+password-auth/m);
    expect(read('sshd')).not.toContain(GATE_LINE);
    // Gate file gone with the last block that runs it; every file as it was.
    expect((await agent(['pam', 'disable', '--service', 'su'])).code).toBe(0);
    expect(read(GATE_SERVICE)).toBe(gateFile(module));
    const off = await agent(['pam', 'disable']);
    expect(off.code, off.stdout).toBe(0);
    for (const s of ['sudo', 'su', 'login']) expect(read(s)).toBe(originals[s]);
    expect(readdirSync(pamDir)).not.toContain(GATE_SERVICE);
  });

  it('refuses a substack layout when pam_idv.so for the gate is missing, and says so in status when the gate file is gone', async () => {
    setup('rhel');
    const before = read('login');
    const r = await agent([
      'pam',
      'enable',
      '--service',
      'login',
      '--hook',
      'exec',
      '--module-path',
      join(tmp, 'nowhere', 'pam_idv.so'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'login: refused: this layout needs pam_idv.so for the password gate',
    );
    expect(read('login')).toBe(before);
    const module = gateModule();
    expect(
      (
        await agent([
          'pam',
          'enable',
          '--service',
          'login',
          '--hook',
          'exec',
          '--module-path',
          module,
        ])
      ).code,
    ).toBe(0);
    rmSync(join(pamDir, GATE_SERVICE));
    const status = await agent(['pam', 'status', '--service', 'login', '--module-path', module]);
    expect(status.stdout).toMatch(/login: broken.*idv-password-gate, which is missing/);
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
          '--hook',
          'exec',
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
      hook: 'exec' as const,
      module: 'pam_idv.so',
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

describe.skipIf(!isRoot)(
  `idv-agent pam --hook module${isRoot ? '' : ' (skipped: needs root)'}`,
  () => {
    /** A stand-in for pam_idv.so (these tests edit files only; PAM never loads it). */
    let module: string;
    const moduleLine = (): string => `auth requisite ${module} socket=${SOCKET}`;
    beforeEach(() => {
      module = join(tmp, 'pam_idv.so');
      writeFileSync(module, 'not loaded by these tests', { mode: 0o644 });
    });
    const withModule = (args: string[]): ReturnType<typeof agent> =>
      agent(args, [['module-path', module]]);
    const usePasswordFirst = (): void =>
      writeFileSync(
        join(tmp, 'sshd_config.d', '50-idv.conf'),
        'KbdInteractiveAuthentication yes\nAuthenticationMethods keyboard-interactive\n',
      );

    it('writes the module line: after the password for sudo, su, login; in the password’s place for sshd key + code', async () => {
      setup('debian');
      const originals = Object.fromEntries(
        ['sudo', 'su', 'login', 'sshd'].map((s) => [s, read(s)]),
      );
      const r = await withModule(['pam', 'enable']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`hook: module, ${module} (from --module-path)`);
      for (const s of ['sudo', 'su', 'login']) {
        expect(around(s).before).toBe('@include common-auth');
        const l = lines(s);
        expect(l[l.indexOf(MARK_BEGIN) + 1]).toBe(moduleLine());
      }
      expect(r.stdout).toContain(
        'sshd: added: in place of "@include common-auth" (public key + code',
      );
      const sshd = read('sshd');
      expect(sshd).toContain(moduleLine());
      expect(sshd).not.toMatch(/pam_echo|pam_exec|pam_permit/);
      expect(sshd).toContain('#idv-replaced: @include common-auth');

      const status = await withModule(['pam', 'status']);
      for (const s of ['sudo', 'su', 'login', 'sshd'])
        expect(status.stdout).toContain(`${s}: enabled (pam_idv.so)`);
      const json = JSON.parse((await withModule(['pam', 'status', '--json'])).stdout) as {
        services: { service: string; hook: string }[];
      };
      expect(json.services.map((s) => [s.service, s.hook])).toEqual([
        ['sshd', 'module'],
        ['sudo', 'module'],
        ['sudo-i', 'module'],
        ['su', 'module'],
        ['su-l', 'module'], // through su
        ['login', 'module'],
      ]);

      const off = await withModule(['pam', 'disable']);
      expect(off.code).toBe(0);
      for (const s of ['sudo', 'su', 'login', 'sshd']) expect(read(s)).toBe(originals[s]);
    });

    it('switches a service from pam_exec to the module and back in place, one block at a time', async () => {
      setup('debian');
      await agent(['pam', 'enable', '--service', 'sudo']);
      expect((await withModule(['pam', 'status', '--service', 'sudo'])).stdout).toContain(
        'sudo: enabled (pam_exec + idv-pam-helper)',
      );
      const r = await withModule(['pam', 'enable', '--service', 'sudo', '--break-glass', 'root']);
      expect(r.stdout).toContain('sudo: updated');
      const l = lines('sudo');
      expect(l.filter((x) => x === MARK_BEGIN)).toHaveLength(1);
      expect(l[l.indexOf(MARK_BEGIN) + 1]).toBe(
        'auth [success=1 default=ignore] pam_succeed_if.so quiet user in root',
      );
      expect(l[l.indexOf(MARK_BEGIN) + 2]).toBe(moduleLine());
      expect(read('sudo')).not.toContain('pam_exec');
      // Back to pam_exec: the break-glass account stays.
      expect((await agent(['pam', 'enable', '--service', 'sudo'])).stdout).toContain(
        'sudo: updated',
      );
      expect(read('sudo')).toContain('pam_succeed_if.so quiet user in root');
      expect(read('sudo')).toContain('pam_exec.so');
    });

    it('sshd password + code: after the password step, once sshd_config sends every login through keyboard-interactive', async () => {
      setup('debian');
      writeFileSync(
        join(tmp, 'sshd_config.d', '50-idv.conf'),
        'KbdInteractiveAuthentication yes\n',
      );
      const original = read('sshd');
      const refused = await withModule(['pam', 'enable', '--service', 'sshd', '--ssh', 'password']);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain(
        'sshd: refused: sshd_config must require keyboard-interactive',
      );
      expect(refused.stdout).toMatch(/MISSING AuthenticationMethods keyboard-interactive/);
      expect(read('sshd')).toBe(original);

      usePasswordFirst();
      const r = await withModule(['pam', 'enable', '--service', 'sshd', '--ssh', 'password']);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toContain('sshd: added: after "@include common-auth"');
      expect(r.stdout).toMatch(/ok +AuthenticationMethods keyboard-interactive/);
      expect(around('sshd').before).toBe('@include common-auth');
      expect(read('sshd')).not.toContain('#idv-replaced');
      // Run again without --ssh: the block says password + code, and stays.
      const again = await withModule(['pam', 'enable', '--service', 'sshd']);
      expect(again.stdout).toContain('sshd: unchanged');
      expect((await withModule(['pam', 'status', '--service', 'sshd'])).stdout).toContain(
        'sshd: enabled (pam_idv.so)',
      );
      expect((await withModule(['pam', 'disable', '--service', 'sshd'])).code).toBe(0);
      expect(read('sshd')).toBe(original);
    });

    it('refuses sshd password + code through pam_exec, and key + code when sshd_config lets the code alone in', async () => {
      setup('debian');
      usePasswordFirst();
      const exec = await agent(['pam', 'enable', '--service', 'sshd', '--ssh', 'password']);
      expect(exec.code).toBe(1);
      expect(exec.stdout).toContain('sshd: refused: sshd password + code needs the module');
      const key = await withModule(['pam', 'enable', '--service', 'sshd']);
      expect(key.code).toBe(1);
      expect(key.stdout).toContain(
        'sshd: refused: sshd_config must require a key and then the code',
      );
      expect(key.stdout).toMatch(/MISSING AuthenticationMethods publickey,keyboard-interactive/);
      expect(read('sshd')).not.toContain('idv');
    });

    it('RHEL password + code: after `auth substack password-auth`', async () => {
      setup('rhel');
      usePasswordFirst();
      const r = await withModule(['pam', 'enable', '--service', 'sshd', '--ssh', 'password']);
      expect(r.code, r.stdout).toBe(0);
      expect(around('sshd').before).toBe('auth       substack     password-auth');
      expect(around('sshd').after).toBe('auth       include      postlogin');
      expect(lines('sshd')[lines('sshd').indexOf(MARK_BEGIN) + 1]).toBe(GATE_LINE);
      expect(read(GATE_SERVICE)).toBe(gateFile(module));
    });

    it('refuses a module file that others could replace, or that is not there, before touching any file', async () => {
      setup('debian');
      const before = read('sudo');
      chmodSync(module, 0o666);
      const loose = await withModule(['pam', 'enable', '--service', 'sudo']);
      expect(loose.code).toBe(1);
      expect(loose.stderr).toContain(`refusing to load ${module} into logins`);
      expect(loose.stderr).toContain('writable by group or others');
      const gone = await agent([
        'pam',
        'enable',
        '--service',
        'sudo',
        '--module-path',
        join(tmp, 'nowhere', 'pam_idv.so'),
      ]);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toContain(
        `the module ${join(tmp, 'nowhere', 'pam_idv.so')} does not exist`,
      );
      expect(read('sudo')).toBe(before);
      expect(() => readdirSync(backupDir)).toThrow();
    });

    it('matches the packaging/pam module snippets (sudo, su, login, sshd both ways)', async () => {
      setup('debian');
      const auth = (text: string): string[] =>
        parseStack(text.replaceAll(module, 'pam_idv.so')).flatMap((l) =>
          l.kind === 'include' && l.target === 'common-auth'
            ? ['@include common-auth']
            : l.kind === 'rule' && l.type === 'auth'
              ? [[l.control, l.module, ...l.args].join(' ')]
              : [],
        );
      const snippet = (name: string): string[] =>
        auth(readFileSync(resolve('packaging/pam/debian', name), 'utf8'));
      expect((await withModule(['pam', 'enable', '--service', 'sudo,su,login,sshd'])).code).toBe(0);
      for (const s of ['sudo', 'su', 'login'])
        expect(auth(read(s))).toEqual(snippet(`${s}-module`));
      expect(auth(read('sshd'))).toEqual(snippet('sshd-publickey-code-module'));
      await withModule(['pam', 'disable', '--service', 'sshd']);
      usePasswordFirst();
      expect(
        (await withModule(['pam', 'enable', '--service', 'sshd', '--ssh', 'password'])).code,
      ).toBe(0);
      expect(auth(read('sshd'))).toEqual(snippet('sshd-password-code-module'));
    });
  },
);

describe('idv-agent pam on a machine without sshd', () => {
  it('says sshd is not installed instead of talking about sshd_config', async () => {
    setup('debian');
    rmSync(join(pamDir, 'sshd'));
    const named = await agent(['pam', 'enable', '--service', 'sshd']);
    expect(named.code).toBe(1);
    expect(named.stdout).toContain('sshd: missing: sshd is not installed here');
    expect(named.stdout).not.toContain('sshd_config');
    // Not named: the other services are wired, sshd is reported and skipped.
    const all = await agent(['pam', 'enable']);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('sudo: added');
    expect(all.stdout).toContain('sshd is not installed here');
    expect(all.stdout).not.toContain('sshd_config');
  });
});
