/**
 * `npm run package -- --repo DIR --sign-key KEY`: a signed apt repository (and a yum/dnf one when
 * .rpm packages are built), served over 127.0.0.1 and used as an admin would: the keyring, a
 * .sources file with Signed-By, `apt-get update && apt-get install idv-agent idv-server`. A
 * repository signed with another key is refused by apt. apt runs with its own lists and cache in
 * a temp folder and this repository as its only source (the machine's sources are not touched);
 * dpkg's database is the machine's, so the test refuses to start when idv is installed and
 * purges only what it installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  createReadStream,
  readFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, normalize, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { builtPackages } from '../helpers/packages.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PACKAGES = ['idv-agent', 'idv-server'];
const skip = missing({ commands: ['dpkg', 'apt-get', 'gpg', 'gpgv'], root: true });

const sh = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
};
/** As sh, without blocking: the repository's web server is in this process. */
const shAsync = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
  new Promise<{ code: number | null; out: string }>((done) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => done({ code, out }));
  });
const installed = (p: string) =>
  sh('dpkg-query', ['-W', '-f=${Status}', p]).out.includes('install ok installed');

describe.skipIf(skip !== null)(`package repositories${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const work = mkdtempSync(join(tmpdir(), 'idv-repo-test-'));
  const gnupg = join(work, 'gnupg');
  const env = { ...process.env, GNUPGHOME: gnupg };
  const repo = join(work, 'repo');
  let pkgs: string;
  let server: Server;
  let url: string;
  let weInstalled = false;

  /** A key of the test's own, in a keyring of its own. */
  function newKey(uid: string): string {
    const r = sh(
      'gpg',
      ['--batch', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', '0'],
      env,
    );
    expect(r.code, r.out).toBe(0);
    const list = sh('gpg', ['--batch', '--with-colons', '--list-secret-keys', uid], env).out;
    return /^fpr:+([0-9A-F]+):/m.exec(list)![1]!;
  }

  beforeAll(async () => {
    for (const p of PACKAGES)
      if (
        spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout.trim() !==
        ''
      )
        throw new Error(
          `${p} is installed (or its config is kept) on this machine: this test installs and purges it, so it will not run here`,
        );
    mkdirSync(gnupg, { mode: 0o700 });
    pkgs = await builtPackages(['--deb']);
    // A static file server, as any web server would serve the folder.
    server = createServer((req, res) => {
      const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!));
      const file = join(repo, path);
      if (!file.startsWith(repo) || !existsSync(file) || !statSync(file).isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': statSync(file).size });
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }, 900_000);

  afterAll(async () => {
    if (weInstalled) sh('dpkg', ['--purge', ...PACKAGES]);
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    rmSync(work, { recursive: true, force: true });
  });

  const pack = (args: string[]) =>
    sh(process.execPath, [join(ROOT, 'scripts/package.mjs'), '--out', pkgs, ...args], env);

  /** apt with this repository as its only source, its lists and cache in the test's folder. */
  function apt(keyring: string, args: string[]) {
    const dir = join(work, 'apt');
    rmSync(join(dir, 'lists'), { recursive: true, force: true });
    for (const d of ['lists/partial', 'cache/archives/partial', 'sources'])
      mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(
      join(dir, 'sources', 'idv.sources'),
      `Types: deb\nURIs: ${url}/apt\nSuites: stable\nComponents: main\nSigned-By: ${keyring}\n`,
    );
    const opts = [
      '-o',
      'Dir::Etc::SourceList=/dev/null',
      '-o',
      `Dir::Etc::SourceParts=${join(dir, 'sources')}`,
      '-o',
      `Dir::State::Lists=${join(dir, 'lists')}`,
      '-o',
      `Dir::Cache=${join(dir, 'cache')}`,
      '-o',
      'APT::Sandbox::User=root',
    ];
    return (more: string[]) =>
      shAsync('apt-get', [...opts, ...args, ...more], {
        ...process.env,
        DEBIAN_FRONTEND: 'noninteractive',
      });
  }

  it('refuses to build an unsigned repository, and writes nothing', () => {
    const r = pack(['--repo', repo]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('a repository must be signed: no secret key');
    expect(existsSync(repo)).toBe(false);
  });

  it('lays out a signed apt repository that apt installs idv-agent and idv-server from', async () => {
    const fpr = newKey('idv packages test <repo-test@example.org>');
    const r = pack(['--repo', repo, '--sign-key', fpr]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`signed by ${fpr}`);
    for (const f of [
      'idv-archive-keyring.gpg',
      'apt/dists/stable/InRelease',
      'apt/dists/stable/Release.gpg',
    ])
      expect(existsSync(join(repo, f)), f).toBe(true);
    // The signatures check out with the published key alone.
    const v = sh('gpgv', [
      '--keyring',
      join(repo, 'idv-archive-keyring.gpg'),
      join(repo, 'apt/dists/stable/InRelease'),
    ]);
    expect(v.code, v.out).toBe(0);

    const withKey = apt(join(repo, 'idv-archive-keyring.gpg'), []);
    const update = await withKey(['update']);
    expect(update.code, update.out).toBe(0);
    expect(update.out).not.toMatch(/^(W|E): .*(signature|NO_PUBKEY|not signed)/m);
    weInstalled = true;
    const install = await withKey(['install', '-y', '--no-install-recommends', ...PACKAGES]);
    expect(install.code, install.out).toBe(0);
    for (const p of PACKAGES) expect(installed(p), p).toBe(true);
    expect(sh('/usr/bin/idv-agent', ['--version']).out).toMatch(/^idv-agent \d+\.\d+\.\d+ /);
    sh('dpkg', ['--purge', ...PACKAGES]);
    weInstalled = false;
    for (const p of PACKAGES) expect(installed(p), p).toBe(false);
  }, 600_000);

  const hasRpm = ['rpmbuild', 'createrepo_c', 'rpmkeys'].every(
    (t) => spawnSync(t, ['--version']).status === 0,
  );
  // The yum/dnf side, with a small .rpm of the test's own (its signing and indexing do not
  // depend on what the package holds; the idv RPMs themselves: tests/e2e/rpm-install.test.ts).
  // dnf itself is not run: no RHEL machine here.
  it.skipIf(!hasRpm)('lays out a yum/dnf repository: repomd.xml and each package signed', () => {
    const fpr = newKey('idv rpm test <rpm-test@example.org>');
    const top = join(work, 'rpmbuild');
    mkdirSync(join(top, 'SPECS'), { recursive: true });
    writeFileSync(
      join(top, 'SPECS', 'dummy.spec'),
      'Name: idv-repo-dummy\nVersion: 1.0\nRelease: 1\nSummary: test\nLicense: Apache-2.0\n' +
        'BuildArch: noarch\n%description\ntest\n%files\n',
    );
    expect(
      sh('rpmbuild', ['-bb', '--define', `_topdir ${top}`, join(top, 'SPECS', 'dummy.spec')]).code,
    ).toBe(0);
    const out = join(work, 'rpm-out');
    mkdirSync(out);
    const rpm = 'idv-repo-dummy-1.0-1.noarch.rpm';
    writeFileSync(join(out, rpm), readFileSync(join(top, 'RPMS', 'noarch', rpm)));
    const dir = join(work, 'rpm-repo');
    const r = sh(
      process.execPath,
      [join(ROOT, 'scripts/package.mjs'), '--out', out, '--repo', dir, '--sign-key', fpr],
      env,
    );
    expect(r.code, r.out).toBe(0);
    // What dnf checks with repo_gpgcheck=1 and gpgcheck=1, with the published key alone.
    const md = join(dir, 'rpm', 'repodata');
    const v = sh('gpgv', [
      '--keyring',
      join(dir, 'idv-archive-keyring.gpg'),
      join(md, 'repomd.xml.asc'),
      join(md, 'repomd.xml'),
    ]);
    expect(v.code, v.out).toBe(0);
    expect(readFileSync(join(md, 'repomd.xml'), 'utf8')).toContain('primary');
    const db = join(work, 'rpmdb');
    mkdirSync(db);
    expect(
      sh('rpmkeys', ['--dbpath', db, '--import', join(dir, 'idv-archive-keyring.asc')]).code,
    ).toBe(0);
    expect(sh('rpmkeys', ['--dbpath', db, '--checksig', join(dir, 'rpm', rpm)]).out).toMatch(
      /digests signatures OK/,
    );
    // The package as built was not signed: the repository's copy is.
    expect(sh('rpmkeys', ['--dbpath', db, '--checksig', join(out, rpm)]).out).not.toMatch(
      /signatures/,
    );
  });

  it('apt refuses the repository when it trusts another key', async () => {
    newKey('someone else <other@example.org>');
    const other = join(work, 'other.gpg');
    writeFileSync(
      other,
      spawnSync('gpg', ['--batch', '--export', 'other@example.org'], { env }).stdout,
    );
    const withOther = apt(other, []);
    const update = await withOther(['update']);
    expect(update.out).toMatch(/NO_PUBKEY|is not signed/);
    const install = await withOther(['install', '-y', '--no-install-recommends', 'idv-agent']);
    expect(install.code).not.toBe(0);
    expect(installed('idv-agent')).toBe(false);
  });
});
