// The .deb packages on this machine, as an administrator would use them: install both, check the
// layout and the units (`systemd-analyze verify`), run server, idvctl and agent from /usr/bin,
// load the installed pam_idv.so with pamtester, then remove (config and data stay) and purge
// (nothing stays); in between, upgrade both to a second build with the settings files edited, as
// apt does it unattended. /etc/pam.d must not change (the pamtester service file is the test's own,
// removed before the check). Needs root and dpkg; builds the packages into a temp folder first.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { builtPackages } from '../helpers/packages.js';
import { expectVersionLine } from '../helpers/build-info.js';
import { IDV_VERSION } from '../../protocol/version.js';
// @ts-expect-error: a plain .mjs build script, no types
import { buildDebs, pamModuleDir } from '../../packaging/deb/build.mjs';
import { installService } from './system.js';

const skip = missing({
  commands: ['dpkg', 'dpkg-deb', 'systemd-analyze', 'pamtester'],
  root: true,
});

/** Where the package puts the module: the folder of this system's pam_unix.so. */
const MODULE_FILE = `${(pamModuleDir as () => string)()}/pam_idv.so`;

const PACKAGES = ['idv-agent', 'idv-server'];
const PROGRAM_FILES = [
  '/usr/lib/idv/idv',
  '/usr/lib/idv/node_sqlite3.node',
  '/usr/lib/idv-server/idv',
  '/usr/bin/idv-agent',
  '/usr/bin/idv-pam-helper',
  '/usr/bin/idv-server',
  '/usr/bin/idvctl',
  '/lib/systemd/system/idv-agent.service',
  '/lib/systemd/system/idv-agent.socket',
  '/lib/systemd/system/idv-server.service',
  '/usr/share/idv/pam',
  '/usr/share/idv/agent.env',
  '/usr/share/idv-server/server.env',
  '/usr/share/doc/idv-agent',
  '/usr/share/doc/idv-server',
  '/usr/share/man/man1/idvctl.1.gz',
  '/usr/share/man/man8/idv-server.8.gz',
  '/usr/share/man/man8/idv-agent.8.gz',
  '/usr/share/man/man8/idv-pam-helper.8.gz',
  '/usr/share/man/man8/pam_idv.8.gz',
  '/usr/share/bash-completion/completions/idvctl',
  MODULE_FILE,
];
const KEPT_ON_REMOVE = [
  '/etc/idv/agent.env',
  '/etc/idv-server/server.env',
  '/var/lib/idv/agent.json',
  '/var/lib/idv-server/data/idv.db',
];
const EVERYTHING = [
  ...PROGRAM_FILES,
  ...KEPT_ON_REMOVE,
  '/etc/idv',
  '/etc/idv-server',
  '/var/lib/idv',
  '/var/lib/idv-server',
  '/var/lib/private/idv-server',
  '/var/backups/idv',
  '/run/idv',
  '/usr/share/idv',
  '/usr/share/idv-server',
];
/** The settings files the install docs tell admins to edit: theirs, never a dpkg conffile. */
const SETTINGS = ['/etc/idv/agent.env', '/etc/idv-server/server.env'];

let tmp: string;
let debs: string[] = [];
/** Set once this test runs dpkg --install: only then are the packages its own to purge. */
let ours = false;
const children: ChildProcess[] = [];

function sh(cmd: string, args: string[]): { code: number; out: string } {
  try {
    return {
      code: 0,
      out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

function pamDigest(): string {
  const h = createHash('sha256');
  // idv-test-* are service files of tests (this one's pamtester files, and other test files
  // running in parallel on the machine): each test writes and removes its own.
  for (const f of readdirSync('/etc/pam.d')
    .filter((n) => !n.startsWith('idv-test-'))
    .sort()) {
    h.update(f);
    try {
      h.update(readFileSync(join('/etc/pam.d', f)));
    } catch {
      /* a dangling link reads as its name only */
    }
  }
  return h.digest('hex');
}

function installed(pkg: string): string {
  const r = sh('dpkg-query', ['-W', '-f=${Status}', pkg]);
  return r.code === 0 ? r.out : '';
}

function startReady(bin: string, args: string[], ready: RegExp): Promise<RegExpMatchArray> {
  return new Promise((done, fail) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let text = '';
    const timer = setTimeout(() => fail(new Error(`${bin} not ready:\n${text}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      const m = ready.exec(text);
      if (m) {
        clearTimeout(timer);
        done(m);
      }
    });
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.once('exit', (code) => fail(new Error(`${bin} exited (${code}):\n${text}`)));
  });
}

async function stopChildren(): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
        }),
    ),
  );
}

describe.skipIf(skip !== null)(`.deb packages${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let pamBefore: string;

  beforeAll(async () => {
    for (const p of PACKAGES)
      if (installed(p) !== '')
        throw new Error(
          `${p} is already known to dpkg here (${installed(p)}); this test needs a machine without it`,
        );
    const present = EVERYTHING.filter((p) => existsSync(p));
    if (present.length)
      throw new Error(`leftovers of an earlier idv install: ${present.join(', ')}`);
    pamBefore = pamDigest();
    tmp = mkdtempSync(join(tmpdir(), 'idv-deb-'));
    // The packages of this tree, built once for every test file that needs them; copied, since
    // the upgrade case below builds more into this folder.
    const built = await builtPackages(['--deb']);
    for (const f of readdirSync(built))
      if (f === 'idv' || f === 'node_sqlite3.node' || f.endsWith('.deb'))
        copyFileSync(join(built, f), join(tmp, f));
    debs = readdirSync(tmp)
      .filter((f) => f.endsWith('.deb'))
      .map((f) => join(tmp, f));
  }, 900_000); // the single binary built on a loaded machine (minutes at load 20)

  afterAll(async () => {
    await stopChildren();
    // An idv this test did not install (a real installation, its database, master key, cache and
    // PAM lines) is never purged: beforeAll refused to start and said why.
    if (ours) for (const p of PACKAGES) if (installed(p) !== '') sh('dpkg', ['--purge', p]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('installs both packages without touching /etc/pam.d', () => {
    expect(debs.map((d) => d.split('/').pop())).toEqual([
      `idv-agent_${IDV_VERSION}_amd64.deb`,
      `idv-server_${IDV_VERSION}_amd64.deb`,
    ]);
    ours = true;
    const r = sh('dpkg', ['--install', ...debs]);
    expect(r.out).toContain('idv-agent is installed');
    expect(r.code).toBe(0);
    for (const p of PACKAGES) expect(installed(p)).toBe('install ok installed');
    for (const f of [...PROGRAM_FILES, '/etc/idv/agent.env', '/etc/idv-server/server.env'])
      expect(existsSync(f), f).toBe(true);
    expect(statSync('/var/lib/idv').mode & 0o777).toBe(0o700);
    expect(statSync('/var/lib/idv-server').mode & 0o777).toBe(0o700);
    // The settings may hold a database URL with its password: root's alone.
    for (const f of SETTINGS) expect(statSync(f).mode & 0o777, f).toBe(0o600);
    expect(readdirSync('/usr/share/idv/pam').length).toBeGreaterThan(0);
    expect(MODULE_FILE).toMatch(/^\/(usr\/)?lib\/x86_64-linux-gnu\/security\/pam_idv\.so$/);
    expect(statSync(MODULE_FILE).mode & 0o777).toBe(0o644);
    expect(sh('dpkg', ['-S', MODULE_FILE]).out).toContain('idv-agent');
    expect(pamDigest()).toBe(pamBefore);
  }, 180_000); // dpkg -i of two 27 MB packages: tens of seconds on a loaded machine

  it('ships systemd units that systemd-analyze verify accepts', () => {
    const r = sh('systemd-analyze', [
      'verify',
      '/lib/systemd/system/idv-agent.service',
      '/lib/systemd/system/idv-agent.socket',
      '/lib/systemd/system/idv-server.service',
    ]);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
    const unit = readFileSync('/lib/systemd/system/idv-agent.service', 'utf8');
    for (const line of [
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'CapabilityBoundingSet=',
      'Restart=on-failure',
    ])
      expect(unit).toContain(line);
    // Logins wait in systemd's socket while the agent restarts; a restart must not delete it.
    expect(unit).toMatch(/^RuntimeDirectoryPreserve=yes$/m);
    const socket = readFileSync('/lib/systemd/system/idv-agent.socket', 'utf8');
    expect(socket).toMatch(/^ListenStream=\/run\/idv\/agent\.sock$/m);
    expect(socket).toMatch(/^SocketMode=0600$/m);
    expect(unit).toContain(
      'ExecStart=/usr/bin/idv-agent run --data-dir /var/lib/idv --socket /run/idv/agent.sock',
    );
    // Descriptors for the connections each program holds (verify above parses the values).
    expect(unit).toMatch(/^LimitNOFILE=4096$/m);
    expect(readFileSync('/lib/systemd/system/idv-server.service', 'utf8')).toMatch(
      /^LimitNOFILE=65536$/m,
    );
    // `systemctl help idv-agent` opens what Documentation= names: it must be installed, with
    // the docs its relative links point at.
    for (const p of PACKAGES) {
      const text = readFileSync(`/lib/systemd/system/${p}.service`, 'utf8');
      const docs = [...text.matchAll(/^Documentation=(.+)$/gm)].flatMap((m) =>
        (m[1] as string).split(/\s+/).filter((u) => u.startsWith('file://')),
      );
      expect(docs.length, p).toBeGreaterThan(0);
      for (const url of docs) expect(existsSync(new URL(url)), url).toBe(true);
      expect(existsSync(`/usr/share/doc/${p}/docs/install.md`)).toBe(true);
      expect(existsSync(`/usr/share/doc/${p}/copyright`)).toBe(true);
    }
    // `man idvctl` finds the installed page (man-db is in .ci/run's list).
    const man = sh('man', ['-w', 'idvctl']);
    expect(man.out.trim()).toBe('/usr/share/man/man1/idvctl.1.gz');
    expect(sh('man', ['-w', '8', 'pam_idv']).out.trim()).toBe('/usr/share/man/man8/pam_idv.8.gz');
  });

  it('runs server, idvctl and agent from /usr/bin (init, serve on loopback, register, sync) and PAM loads the installed pam_idv.so', async () => {
    const init = sh('/usr/bin/idv-server', [
      'init',
      '--data-dir',
      '/var/lib/idv-server/data',
      '--json',
    ]);
    expect(init.code).toBe(0);
    const { adminToken } = JSON.parse(init.out) as { adminToken: string };
    const m = await startReady(
      '/usr/bin/idv-server',
      ['serve', '--data-dir', '/var/lib/idv-server/data', '--listen', '127.0.0.1:0'],
      /idv-server listening on (http:\/\/\S+)/,
    );
    const url = m[1] as string;
    const tok = sh('/usr/bin/idvctl', [
      '--server',
      url,
      `--token=${adminToken}`,
      '--json',
      'device',
      'token',
      'create',
    ]);
    expect(tok.code).toBe(0);
    const { token } = JSON.parse(tok.out) as { token: string };
    expectVersionLine('idv-agent', sh('/usr/bin/idv-agent', ['--version']).out);
    const reg = sh('/usr/bin/idv-agent', [
      'register',
      '--server',
      url,
      `--token=${token}`,
      '--data-dir',
      '/var/lib/idv',
    ]);
    expect(reg.code, reg.out).toBe(0);
    await startReady(
      '/usr/bin/idv-agent',
      ['run', '--data-dir', '/var/lib/idv', '--socket', '/run/idv/agent.sock'],
      /idv-agent listening on/,
    );
    let status: { connected?: boolean } = {};
    for (let i = 0; i < 100 && !status.connected; i++) {
      const s = sh('/usr/bin/idv-agent', [
        'status',
        '--json',
        '--data-dir',
        '/var/lib/idv',
        '--socket',
        '/run/idv/agent.sock',
      ]);
      status = JSON.parse(s.out) as { connected?: boolean };
      if (!status.connected) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status.connected).toBe(true);

    // PAM loads the installed module by its bare name, and it asks the running agent: an
    // account the server does not manage is let through (unknownUsers: skip); with no agent on
    // the socket named, the module refuses (fail closed).
    const stack = (socket: string): string =>
      `auth requisite pam_idv.so socket=${socket} timeout=5\naccount required pam_permit.so\n`;
    const live = installService('deb', stack('/run/idv/agent.sock'));
    const dead = installService('deb', stack('/run/idv/nothing-here.sock'));
    try {
      const yes = sh('pamtester', [live.name, 'nobody', 'authenticate']);
      expect(yes.out).toContain('successfully authenticated');
      expect(yes.code).toBe(0);
      const no = sh('pamtester', [dead.name, 'nobody', 'authenticate']);
      expect(no.out).toContain('Verification service unavailable');
      expect(no.out).not.toContain('successfully authenticated');
      expect(no.code).not.toBe(0);
    } finally {
      live.remove();
      dead.remove();
    }

    // The installed agent picks the installed module by default.
    const pamDir = join(tmp, 'pam.d');
    cpSync(resolve('tests/e2e/pamconfig-fixtures/debian'), pamDir, { recursive: true });
    const enable = sh('/usr/bin/idv-agent', [
      'pam',
      'enable',
      '--service',
      'sudo',
      '--pam-dir',
      pamDir,
      '--backup-dir',
      join(tmp, 'backups'),
    ]);
    expect(enable.out).toContain(`hook: module, pam_idv.so (${MODULE_FILE})`);
    expect(enable.code, enable.out).toBe(0);
    expect(readFileSync(join(pamDir, 'sudo'), 'utf8')).toContain(
      'auth requisite pam_idv.so socket=/run/idv/agent.sock',
    );
    await stopChildren();
  });

  it('an unattended upgrade keeps the admin’s settings: no conffile question, both packages ii, the edits in place', () => {
    const next = `${IDV_VERSION}+upgrade1`;
    const upgrades = (buildDebs as (o: object) => string[])({
      root: resolve('.'),
      out: tmp,
      version: next,
    });
    expect(upgrades.map((d) => d.split('/').pop())).toEqual([
      `idv-agent_${next}_amd64.deb`,
      `idv-server_${next}_amd64.deb`,
    ]);
    // The first install made each file from the shipped defaults; the admin edits both.
    for (const f of SETTINGS) expect(readFileSync(f, 'utf8')).toContain(`Defaults of idv-`);
    const server = readFileSync('/etc/idv-server/server.env', 'utf8').replace(
      /^IDV_LISTEN=.*$/m,
      'IDV_LISTEN=0.0.0.0:8443\nIDV_PUBLIC_URL=https://idv.example.test:8443',
    );
    const agent = `${readFileSync('/etc/idv/agent.env', 'utf8')}IDV_LOG_LEVEL=debug\n`;
    writeFileSync('/etc/idv-server/server.env', server);
    writeFileSync('/etc/idv/agent.env', agent);

    // As apt runs it unattended: no terminal, no answers.
    let r: { code: number; out: string };
    try {
      r = {
        code: 0,
        out: execFileSync('dpkg', ['--install', ...upgrades], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
          timeout: 300_000,
        }),
      };
    } catch (err) {
      const e = err as { status?: number; stdout?: string; stderr?: string };
      r = { code: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
    expect(r.out).not.toMatch(/Configuration file|conffile/i);
    expect(r.code, r.out).toBe(0);
    for (const p of PACKAGES) {
      expect(installed(p)).toBe('install ok installed');
      expect(sh('dpkg-query', ['-W', '-f=${Version}', p]).out).toBe(next);
      expect(sh('dpkg-query', ['-W', '-f=${Conffiles}', p]).out.trim()).toBe('');
    }
    // The service reads the admin's file, unchanged; the new defaults are beside it for reading.
    expect(readFileSync('/etc/idv-server/server.env', 'utf8')).toBe(server);
    expect(readFileSync('/etc/idv/agent.env', 'utf8')).toBe(agent);
    expect(readFileSync('/lib/systemd/system/idv-server.service', 'utf8')).toMatch(
      /^EnvironmentFile=-\/etc\/idv-server\/server\.env$/m,
    );
    expect(readFileSync('/usr/share/idv-server/server.env', 'utf8')).toContain(
      `Defaults of idv-server ${next}`,
    );
    for (const f of SETTINGS)
      for (const ext of ['.dpkg-dist', '.dpkg-new', '.dpkg-old'])
        expect(existsSync(f + ext), f + ext).toBe(false);
  }, 600_000); // two more packages built (xz) and installed on a loaded machine

  it('remove keeps config and data; purge leaves nothing; /etc/pam.d never changed', () => {
    expect(sh('dpkg', ['--remove', ...PACKAGES]).code).toBe(0);
    for (const p of PACKAGES) expect(installed(p)).toBe('deinstall ok config-files');
    for (const f of PROGRAM_FILES) expect(existsSync(f), f).toBe(false);
    for (const f of KEPT_ON_REMOVE) expect(existsSync(f), f).toBe(true);

    expect(sh('dpkg', ['--purge', ...PACKAGES]).code).toBe(0);
    for (const p of PACKAGES) expect(installed(p)).toBe('');
    expect(EVERYTHING.filter((f) => existsSync(f))).toEqual([]);
    expect(pamDigest()).toBe(pamBefore);
  });
});
