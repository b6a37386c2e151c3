// Lays out signed package repositories from built packages, servable by any static web server
// (docs/install.md shows the admin's side):
//
//   DIR/idv-archive-keyring.gpg   the public key, binary (for /etc/apt/keyrings and signed-by)
//   DIR/idv-archive-keyring.asc   the same, armored (for dnf's gpgkey= and rpm --import)
//   DIR/apt/pool/main/*.deb       an apt repository: suite "stable", component "main"
//   DIR/apt/dists/stable/{Release,InRelease,Release.gpg,main/binary-<arch>/Packages{,.gz}}
//   DIR/rpm/*.rpm                 a yum/dnf repository (createrepo_c), each .rpm signed (rpmsign)
//   DIR/rpm/repodata/repomd.xml{,.asc}
//
// Signed with the admin's own OpenPGP key from their gpg keyring (--sign-key KEYID, or the only
// secret key there). The tools: gpg (Debian gnupg), createrepo_c (createrepo-c), rpmsign (rpm).
// Everything is built in DIR.tmp-<pid> and renamed into place at the end, so a failure (a missing
// tool, a bad key) leaves no half-written repository behind.
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

/** A failure with the one line to show (and what to do). */
export class RepoError extends Error {}

const TOOLS = {
  gpg: 'gnupg',
  createrepo_c: 'createrepo-c',
  rpmsign: 'rpm',
  'dpkg-deb': 'dpkg',
};

function need(tool) {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error)
    throw new RepoError(`${tool} is missing: apt-get install ${TOOLS[tool]}`);
}

/** The absolute path of a program on PATH. */
function onPath(tool) {
  for (const d of (process.env.PATH ?? '').split(':')) {
    const p = join(d || '.', tool);
    if (existsSync(p)) return resolve(p);
  }
  throw new RepoError(`${tool} is missing: apt-get install ${TOOLS[tool]}`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0)
    throw new RepoError(
      `${cmd} ${args.slice(0, 2).join(' ')} failed: ${(r.stderr || r.stdout || '').trim().split('\n').pop()}`,
    );
  return r.stdout;
}

/**
 * The signing key: `keyId` must name exactly one secret key; without it the keyring must hold
 * exactly one. Returns its fingerprint.
 */
export function signingKey(keyId, env = process.env) {
  need('gpg');
  const r = spawnSync(
    'gpg',
    ['--batch', '--with-colons', '--list-secret-keys', ...(keyId ? [keyId] : [])],
    {
      encoding: 'utf8',
      env,
    },
  );
  const fprs = [];
  let inSec = false;
  for (const line of (r.stdout ?? '').split('\n')) {
    const f = line.split(':');
    if (f[0] === 'sec') inSec = true;
    else if (f[0] === 'fpr' && inSec) {
      fprs.push(f[9]);
      inSec = false;
    }
  }
  if (fprs.length === 0)
    throw new RepoError(
      keyId
        ? `no secret key ${keyId} in gpg's keyring (gpg --list-secret-keys)`
        : 'a repository must be signed: no secret key in gpg\'s keyring; make one (gpg --quick-gen-key "idv packages <you@example.org>" ed25519 sign 0) or pass --sign-key KEYID',
    );
  if (fprs.length > 1)
    throw new RepoError(
      `${keyId ? `${keyId} matches` : "gpg's keyring has"} ${fprs.length} secret keys: pass --sign-key with the fingerprint of one`,
    );
  return fprs[0];
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const md5 = (buf) => createHash('md5').update(buf).digest('hex');

/** The control fields of a .deb as dpkg-deb prints them, one paragraph. */
function debControl(file) {
  return run('dpkg-deb', ['-f', file]).trimEnd();
}

function debArch(control) {
  return /^Architecture: (\S+)$/m.exec(control)?.[1];
}

function aptRepo(tmp, debs, fpr, env) {
  const pool = join(tmp, 'apt', 'pool', 'main');
  mkdirSync(pool, { recursive: true });
  const byArch = new Map();
  for (const deb of debs) {
    const control = debControl(deb);
    const arch = debArch(control);
    if (!arch) throw new RepoError(`${deb} has no Architecture field`);
    const name = basename(deb);
    copyFileSync(deb, join(pool, name));
    const data = readFileSync(deb);
    const stanza =
      `${control}\nFilename: pool/main/${name}\nSize: ${data.length}\n` +
      `MD5sum: ${md5(data)}\nSHA256: ${sha256(data)}\n`;
    // Architecture: all goes into every architecture's index
    const list = byArch.get(arch) ?? [];
    list.push(stanza);
    byArch.set(arch, list);
  }
  const all = byArch.get('all') ?? [];
  byArch.delete('all');
  if (byArch.size === 0) byArch.set('amd64', []);
  const dists = join(tmp, 'apt', 'dists', 'stable');
  const indexes = [];
  for (const [arch, stanzas] of byArch) {
    const rel = `main/binary-${arch}`;
    mkdirSync(join(dists, rel), { recursive: true });
    const text = [...stanzas, ...all].join('\n');
    const gz = gzipSync(Buffer.from(text));
    writeFileSync(join(dists, rel, 'Packages'), text);
    writeFileSync(join(dists, rel, 'Packages.gz'), gz);
    indexes.push({ path: `${rel}/Packages`, data: Buffer.from(text) });
    indexes.push({ path: `${rel}/Packages.gz`, data: gz });
  }
  const sums = (hash) =>
    indexes
      .map((i) => ` ${hash(i.data)} ${String(i.data.length).padStart(8)} ${i.path}`)
      .join('\n');
  const release =
    [
      'Origin: idv',
      'Label: idv',
      'Suite: stable',
      'Codename: stable',
      `Date: ${new Date().toUTCString()}`,
      `Architectures: ${[...byArch.keys()].join(' ')}`,
      'Components: main',
      'Description: idv packages (idv-agent, idv-server)',
      'Acquire-By-Hash: no',
      `MD5Sum:\n${sums(md5)}`,
      `SHA256:\n${sums(sha256)}`,
    ].join('\n') + '\n';
  writeFileSync(join(dists, 'Release'), release);
  const gpg = ['--batch', '--yes', '--local-user', fpr, '--digest-algo', 'SHA512'];
  run('gpg', [...gpg, '--clearsign', '-o', join(dists, 'InRelease'), join(dists, 'Release')], {
    env,
  });
  run(
    'gpg',
    [...gpg, '--armor', '--detach-sign', '-o', join(dists, 'Release.gpg'), join(dists, 'Release')],
    {
      env,
    },
  );
}

function rpmRepo(tmp, rpms, fpr, env) {
  need('createrepo_c');
  need('rpmsign');
  const dir = join(tmp, 'rpm');
  mkdirSync(dir, { recursive: true });
  for (const rpm of rpms) copyFileSync(rpm, join(dir, basename(rpm)));
  // Each package signed too, so dnf's gpgcheck=1 holds for a package copied out of the repo.
  // rpm runs %__gpg, which Debian's rpm sets to /usr/bin/gpg2 (not there): name the gpg on PATH.
  run(
    'rpmsign',
    [
      '--addsign',
      '--define',
      `__gpg ${onPath('gpg')}`,
      '--define',
      `_gpg_name ${fpr}`,
      '--define',
      '_gpg_sign_cmd_extra_args --batch',
      ...rpms.map((r) => join(dir, basename(r))),
    ],
    { env },
  );
  run('createrepo_c', ['--quiet', '--no-database', dir]);
  run(
    'gpg',
    [
      '--batch',
      '--yes',
      '--local-user',
      fpr,
      '--armor',
      '--detach-sign',
      '-o',
      join(dir, 'repodata', 'repomd.xml.asc'),
      join(dir, 'repodata', 'repomd.xml'),
    ],
    { env },
  );
}

/**
 * Builds the repositories in `dir` from `files` (.deb and .rpm), signed with `keyId` (or the
 * keyring's only secret key). `env` carries GNUPGHOME for tests. Returns the fingerprint.
 */
export function buildRepo({ dir, files, keyId, env = process.env }) {
  const debs = files.filter((f) => f.endsWith('.deb'));
  const rpms = files.filter((f) => f.endsWith('.rpm'));
  if (debs.length + rpms.length === 0)
    throw new RepoError(
      'no packages to publish: build them first (npm run package -- --deb or --rpm)',
    );
  for (const f of files)
    if (!existsSync(f) || !statSync(f).isFile()) throw new RepoError(`${f} is not a package file`);
  if (debs.length) need('dpkg-deb');
  const fpr = signingKey(keyId, env);
  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileSync(
      join(tmp, 'idv-archive-keyring.gpg'),
      execFileSync('gpg', ['--batch', '--export', fpr], { env }),
    );
    writeFileSync(
      join(tmp, 'idv-archive-keyring.asc'),
      execFileSync('gpg', ['--batch', '--armor', '--export', fpr], { env }),
    );
    if (debs.length) aptRepo(tmp, debs, fpr, env);
    if (rpms.length) rpmRepo(tmp, rpms, fpr, env);
    // Replace the old repository only once the new one is complete.
    const old = `${target}.old-${process.pid}`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(tmp, target);
    rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return fpr;
}

/** The packages in a folder (packaging/out): every .deb and .rpm directly in it. */
export function packagesIn(folder) {
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((f) => f.endsWith('.deb') || f.endsWith('.rpm'))
    .map((f) => join(folder, f));
}
