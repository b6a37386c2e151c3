// The .rpm packages for the RHEL family, checked the ways this Debian machine allows (no RHEL
// machine here; docs/packaging.md lists what stays untested): rpmlint with packaging/rpm's
// settings, the scriptlets and file lists (`rpm -qp --scripts/--filesbypkg`), then `rpm --root`
// into a scratch root made with debootstrap (cached in /var/cache/idv-test, copied per run):
// a refused transaction leaves nothing, the programs run from /usr/bin, install leaves
// /etc/pam.d alone, erase takes the idv lines out of PAM first and keeps the data.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectVersionLine, PACKAGE_VERSION } from '../helpers/build-info.js';
import { missing } from '../helpers/require.js';

const skip = missing({
  commands: ['rpmbuild', 'rpm', 'rpmlint', 'debootstrap', 'chroot', 'mount'],
  root: true,
});

/** The scratch root's cache: Debian 12 minbase, made once per machine (debootstrap takes minutes). */
const CACHE = '/var/cache/idv-test/rpm-root-bookworm-amd64';

let tmp: string;
let root: string;
let rpms: { agent: string; server: string };
let procMounted = false;

function sh(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { code: number; out: string; stdout: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, env });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, stdout: r.stdout ?? '' };
}

/** A program inside the scratch root, with a plain environment (none of this machine's NODE_*). */
const inRoot = (cmd: string, args: string[]): { code: number; out: string; stdout: string } =>
  sh('chroot', [root, cmd, ...args], { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' });

/** Every file in the root's /etc/pam.d with its content. */
function pamFiles(): Record<string, string> {
  const dir = join(root, 'etc/pam.d');
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
  );
}

function scratchRoot(): void {
  if (!existsSync(CACHE)) {
    const partial = `${CACHE}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync('/var/cache/idv-test', { recursive: true });
    const r = sh('debootstrap', [
      '--variant=minbase',
      'bookworm',
      partial,
      'http://deb.debian.org/debian',
    ]);
    if (r.code !== 0) throw new Error(`debootstrap failed:\n${r.out.slice(-2000)}`);
    renameSync(partial, CACHE);
  }
  root = join(tmp, 'root');
  execFileSync('cp', ['-a', CACHE, root]);
  // The single executable finds its sqlite3 addon beside /proc/self/exe.
  execFileSync('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
  procMounted = true;
  execFileSync('rpmdb', ['--root', root, '--initdb']);
}

/** A one-file package `other-tool` owning `file`, for a file conflict. */
function otherPackage(file: string): string {
  const top = join(tmp, 'other');
  const spec = join(tmp, 'other.spec');
  writeFileSync(
    spec,
    [
      'Name: other-tool',
      'Version: 1',
      'Release: 1',
      'Summary: owns a file idv-agent wants',
      'License: MIT',
      'BuildArch: noarch',
      '%description',
      'A test package.',
      '%install',
      `mkdir -p %{buildroot}${file.slice(0, file.lastIndexOf('/'))}`,
      `echo other > %{buildroot}${file}`,
      '%files',
      file,
      '',
    ].join('\n'),
  );
  const r = sh('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, spec]);
  if (r.code !== 0) throw new Error(`rpmbuild other-tool: ${r.out}`);
  return join(top, 'RPMS/noarch/other-tool-1-1.noarch.rpm');
}

describe.skipIf(skip !== null)(`.rpm packages${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'idv-rpm-'));
    await new Promise<void>((done, fail) =>
      execFile(
        process.execPath,
        [resolve('scripts/package.mjs'), '--rpm', '--out', tmp],
        { maxBuffer: 64 << 20 },
        (err, _o, stderr) => (err ? fail(new Error(`package --rpm failed: ${stderr}`)) : done()),
      ),
    );
    rpms = {
      agent: join(tmp, `idv-agent-${PACKAGE_VERSION}-1.x86_64.rpm`),
      server: join(tmp, `idv-server-${PACKAGE_VERSION}-1.x86_64.rpm`),
    };
    scratchRoot();
  }, 1_800_000); // the binary, two xz payloads and (once per machine) debootstrap, on 2 busy cores

  afterAll(() => {
    if (procMounted) sh('umount', [join(root, 'proc')]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('builds idv-agent and idv-server for x86_64, clean for rpmlint', () => {
    expect(readdirSync(tmp).filter((f) => f.endsWith('.rpm'))).toEqual([
      `idv-agent-${PACKAGE_VERSION}-1.x86_64.rpm`,
      `idv-server-${PACKAGE_VERSION}-1.x86_64.rpm`,
    ]);
    const lint = sh('rpmlint', [
      '-c',
      resolve('packaging/rpm/rpmlint.toml'),
      rpms.agent,
      rpms.server,
    ]);
    expect(lint.out).toMatch(/ 0 errors,/);
    expect(lint.code, lint.out).toBe(0);
  }, 300_000);

  it('lays the files out the RHEL way, with no file in /etc/pam.d', () => {
    const files = sh('rpm', ['-qp', '--filesbypkg', rpms.agent, rpms.server]).out;
    for (const [pkg, file] of [
      ['idv-agent', '/usr/bin/idv-agent'],
      ['idv-agent', '/usr/bin/idv-pam-helper'],
      ['idv-agent', '/usr/lib/idv/idv'],
      ['idv-agent', '/usr/lib/idv/node_sqlite3.node'],
      ['idv-agent', '/usr/lib64/security/pam_idv.so'],
      ['idv-agent', '/usr/lib/systemd/system/idv-agent.service'],
      ['idv-agent', '/usr/lib/systemd/system/idv-agent.socket'],
      ['idv-agent', '/etc/idv/agent.env'],
      ['idv-agent', '/var/lib/idv'],
      ['idv-agent', '/usr/share/idv/pam/rhel/idv-password-gate'],
      ['idv-agent', '/usr/share/idv/selinux/idv_pam.te'],
      ['idv-agent', '/usr/share/man/man8/pam_idv.8.gz'],
      ['idv-server', '/usr/bin/idv-server'],
      ['idv-server', '/usr/bin/idvctl'],
      ['idv-server', '/usr/lib/idv-server/idv'],
      ['idv-server', '/usr/lib/systemd/system/idv-server.service'],
      ['idv-server', '/etc/idv-server/server.env'],
    ])
      expect(files, file).toMatch(new RegExp(`^${pkg}\\s+${file}$`, 'm'));
    expect(files).not.toMatch(/\s\/etc\/pam\.d/);
    expect(files).not.toMatch(/\s\/usr\/lib64\/security$/m); // the pam package's folder
    const requires = sh('rpm', ['-qp', '--requires', rpms.agent]).out;
    expect(requires).toMatch(/^pam$/m);
    expect(requires).toMatch(/^libc\.so\.6\(GLIBC_2\.\d+\)\(64bit\)$/m);
  });

  it('scriptlets: nothing touches PAM on install; erase runs `pam disable` first', () => {
    const agent = sh('rpm', ['-qp', '--scripts', rpms.agent]).out;
    const post = agent.slice(agent.indexOf('postinstall scriptlet'), agent.indexOf('preuninstall'));
    // It prints the next steps (pam enable among them) and runs none of them.
    expect(post).toContain('PAM was NOT changed');
    expect(post).not.toMatch(/\/usr\/bin\/idv-agent|^\s*idv-agent pam|>\s*\/etc\/pam\.d/m);
    const preun = agent.slice(agent.indexOf('preuninstall scriptlet'));
    expect(preun).toContain('/usr/bin/idv-agent pam disable');
    expect(preun).toMatch(/if \[ "\$1" -eq 0 \]/); // erase only, not upgrade
    // Data and config stay: no scriptlet deletes anything (the comments say what to delete by hand).
    const commands = agent
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n');
    expect(commands).not.toMatch(/\brm\b/);
  });

  it('a refused transaction leaves nothing behind', () => {
    // Another package owning one of idv-agent's files: rpm refuses the whole transaction. The
    // package has no %pre or %pretrans scriptlet, so nothing runs before rpm's checks.
    const other = otherPackage('/usr/bin/idv-pam-helper');
    expect(sh('rpm', ['--root', root, '-i', '--nodeps', other]).code).toBe(0);
    const r = sh('rpm', ['--root', root, '-i', '--nodeps', rpms.agent]);
    expect(r.out).toMatch(/conflicts with file from package other-tool/);
    expect(r.code).not.toBe(0);
    expect(sh('rpm', ['--root', root, '-q', 'idv-agent']).out).toContain('is not installed');
    for (const f of [
      'usr/bin/idv-agent',
      'usr/lib/idv',
      'usr/lib64/security/pam_idv.so',
      'etc/idv',
      'var/lib/idv',
    ])
      expect(existsSync(join(root, f)), f).toBe(false);
    expect(sh('rpm', ['--root', root, '-e', 'other-tool']).code).toBe(0);
  }, 300_000);

  it('installs into a scratch root without touching /etc/pam.d; the programs run', () => {
    const pamBefore = pamFiles();
    // --nodeps: the scratch root's libraries are Debian's, unknown to its rpm database.
    const r = sh('rpm', ['--root', root, '-i', '--nodeps', rpms.agent, rpms.server]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('idv-agent is installed. Next steps (PAM was NOT changed)');
    expect(sh('rpm', ['--root', root, '-q', 'idv-agent', 'idv-server']).out).toContain(
      `idv-agent-${PACKAGE_VERSION}-1.x86_64`,
    );
    expect(pamFiles()).toEqual(pamBefore);
    expect(statSync(join(root, 'var/lib/idv')).mode & 0o777).toBe(0o700);
    for (const f of ['etc/idv/agent.env', 'etc/idv-server/server.env'])
      expect(statSync(join(root, f)).mode & 0o777, f).toBe(0o600);
    expect(statSync(join(root, 'usr/lib64/security/pam_idv.so')).mode & 0o777).toBe(0o755);
    for (const p of ['idv-agent', 'idv-server', 'idvctl'])
      expectVersionLine(p, inRoot(`/usr/bin/${p}`, ['--version']).stdout);
    // The server's first step, with its sqlite3 addon, inside the root.
    const init = inRoot('/usr/bin/idv-server', [
      'init',
      '--data-dir',
      '/var/lib/idv-server/data',
      '--json',
    ]);
    expect(init.code, init.out).toBe(0);
    expect(existsSync(join(root, 'var/lib/idv-server/data/idv.db'))).toBe(true);
    // The helper's launcher starts the binary (which refuses: no PAM_USER, no agent).
    expect(inRoot('/usr/bin/idv-pam-helper', []).code).not.toBe(0);
  }, 300_000);

  it('erase takes the idv lines out of PAM before the files go, and keeps the data', () => {
    const original = readFileSync(join(root, 'etc/pam.d/login'), 'utf8');
    const on = inRoot('/usr/bin/idv-agent', [
      'pam',
      'enable',
      '--service',
      'login',
      '--hook',
      'module',
      '--break-glass',
      'root',
    ]);
    expect(on.code, on.out).toBe(0);
    expect(readFileSync(join(root, 'etc/pam.d/login'), 'utf8')).toContain(
      'auth requisite pam_idv.so',
    );
    writeFileSync(join(root, 'var/lib/idv/agent.json'), '{"kept":true}\n', { mode: 0o600 });
    const r = sh('rpm', ['--root', root, '-e', 'idv-agent', 'idv-server']);
    expect(r.code, r.out).toBe(0);
    expect(readFileSync(join(root, 'etc/pam.d/login'), 'utf8')).toBe(original);
    for (const f of [
      'usr/bin/idv-agent',
      'usr/bin/idvctl',
      'usr/lib64/security/pam_idv.so',
      'usr/lib/idv',
    ])
      expect(existsSync(join(root, f)), f).toBe(false);
    expect(readFileSync(join(root, 'var/lib/idv/agent.json'), 'utf8')).toContain('kept');
    expect(existsSync(join(root, 'var/lib/idv-server/data/idv.db'))).toBe(true);
  }, 300_000);
});

describe('package --rpm without rpmbuild', () => {
  it('says which package to install and exits 1 before building anything', () => {
    const bin = mkdtempSync(join(tmpdir(), 'idv-norpm-'));
    try {
      symlinkSync(process.execPath, join(bin, 'node'));
      const out = join(bin, 'out');
      const r = spawnSync(
        process.execPath,
        [resolve('scripts/package.mjs'), '--rpm', '--out', out],
        {
          encoding: 'utf8',
          env: { PATH: bin },
        },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('rpmbuild is missing: install it with `apt-get install rpm`');
      expect(existsSync(out)).toBe(false);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

const noSelinuxTools = missing({ commands: ['checkmodule', 'semodule_package'] });
describe.skipIf(noSelinuxTools !== null)(
  `the SELinux policy module source${noSelinuxTools ? ` (skipped: ${noSelinuxTools})` : ''}`,
  () => {
    it('builds with the steps its README gives (loading it needs RHEL: untested)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'idv-selinux-'));
      try {
        const readme = readFileSync(resolve('packaging/rpm/selinux/README.md'), 'utf8');
        const steps = [
          'checkmodule -M -m -o idv_pam.mod idv_pam.te',
          'semodule_package -o idv_pam.pp -m idv_pam.mod',
        ];
        for (const step of steps) expect(readme).toContain(step);
        writeFileSync(
          join(dir, 'idv_pam.te'),
          readFileSync(resolve('packaging/rpm/selinux/idv_pam.te')),
        );
        for (const step of steps) {
          const [cmd, ...args] = step.split(' ') as [string, ...string[]];
          const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
          expect(r.status, `${step}: ${r.stderr}`).toBe(0);
        }
        expect(statSync(join(dir, 'idv_pam.pp')).size).toBeGreaterThan(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
