// Builds packaging/out/idv-agent-<version>-1.<arch>.rpm and idv-server-<version>-1.<arch>.rpm
// for the RHEL family with rpmbuild (Debian: apt-get install rpm) from the single executable in
// packaging/out/ (scripts/package.mjs --rpm).
//
// The payload is the .deb's (the same PACKAGES: a private copy of the binary and the sqlite3 addon
// in /usr/lib/idv or /usr/lib/idv-server, the program names in /usr/bin, the helper's launcher),
// laid out the RHEL way: units in /usr/lib/systemd/system, pam_idv.so in /usr/lib64/security
// (x86_64 and aarch64 alike), the SELinux policy module source in /usr/share/idv/selinux. The
// scriptlets (packaging/rpm/<package>/{post,preun,postun}) do what the .deb's do: PAM is never
// touched on install, `idv-agent pam disable` runs before the files go, data and changed config
// stay on erase. Folders the agent needs (/etc/idv, /var/lib/idv 0700) belong to the package, so
// rpm creates them inside its transaction: nothing fallible is left to a scriptlet, and a failed
// transaction leaves nothing half-installed.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildLauncher } from '../../scripts/helper-launcher.mjs';
import { elfMachine } from '../../scripts/package-arch.mjs';
import { PACKAGES } from '../deb/build.mjs';

/** Node's architecture names → RPM's. */
export const RPM_ARCH = { x64: 'x86_64', arm64: 'aarch64' };
/** Where RHEL's pam package keeps its modules, on x86_64 and aarch64 alike. */
export const RPM_PAM_DIR = '/usr/lib64/security';
const UNIT_DIR = '/usr/lib/systemd/system';

/** The folders each package owns beyond its files: created by rpm, kept on erase when not empty. */
const OWNED_DIRS = {
  'idv-agent': [
    { path: '/etc/idv', mode: '0755' },
    { path: '/var/lib/idv', mode: '0700' },
  ],
  'idv-server': [{ path: '/etc/idv-server', mode: '0755' }],
};

/** Why rpmbuild cannot run here, with what to install, or null. */
export function rpmbuildMissing() {
  try {
    execFileSync('rpmbuild', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'rpmbuild is missing: install it with `apt-get install rpm` (Debian, Ubuntu) or `dnf install rpm-build` (RHEL, Fedora)';
  }
}

function mkdir(path, mode = 0o755) {
  mkdirSync(path, { recursive: true });
  chmodSync(path, mode);
}

function put(from, to, mode) {
  mkdir(dirname(to));
  copyFileSync(from, to);
  chmodSync(to, mode);
}

/** ELF machine of each RPM architecture: no program of another one may reach its package. */
const ELF_MACHINE = { x86_64: 0x3e, aarch64: 0xb7 };

/** Refuses a staged program (binary, addon, launcher, PAM module) built for another machine. */
function checkStagedPrograms(stage, arch) {
  const walk = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
    );
  for (const file of walk(stage)) {
    const m = elfMachine(file);
    if (m !== null && m !== ELF_MACHINE[arch])
      throw new Error(
        `package: ${file.slice(stage.length)} is not an ${arch} program (ELF machine 0x${m.toString(16)}); it would not run on ${arch}`,
      );
  }
}

/** Lays out one package's files under stage/ (the buildroot rpmbuild copies). */
function stagePackage(p, { root, out, stage, pamModule, cc }) {
  const here = join(root, 'packaging/rpm');
  put(join(out, 'idv'), join(stage, p.lib, 'idv'), 0o755);
  put(join(out, 'node_sqlite3.node'), join(stage, p.lib, 'node_sqlite3.node'), 0o644);
  mkdir(join(stage, 'usr/bin'));
  for (const l of p.links) {
    // The helper is the launcher that starts the binary with only the PAM_* variables.
    if (l === 'idv-pam-helper')
      buildLauncher({
        out: join(stage, 'usr/bin', l),
        exec: join(p.lib, 'idv'),
        ...(cc ? { cc } : {}),
      });
    else symlinkSync(`../lib/${p.lib.split('/').pop()}/idv`, join(stage, 'usr/bin', l));
  }
  for (const unit of p.units)
    put(join(root, 'packaging/systemd', unit), join(stage, UNIT_DIR, unit), 0o644);
  // RPM's own way for settings files: %config(noreplace) in /etc. rpm never asks; an upgrade
  // keeps a changed file and puts the new defaults beside it as .rpmnew.
  // 0600 root, as the .deb's: IDV_SERVER_ARGS may carry a --database URL with its password.
  for (const [target, [source]] of Object.entries(p.settings))
    put(join(root, 'packaging/deb', p.name, source), join(stage, target), 0o600);
  for (const d of OWNED_DIRS[p.name] ?? []) mkdir(join(stage, d.path), Number.parseInt(d.mode, 8));

  const doc = join(stage, 'usr/share/doc', p.name);
  put(join(root, 'README.md'), join(doc, 'README.md'), 0o644);
  for (const d of readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')))
    put(join(root, 'docs', d), join(doc, 'docs', d), 0o644);
  const license = join(stage, 'usr/share/licenses', p.name);
  mkdir(license);
  writeFileSync(join(license, 'LICENSE'), 'Apache-2.0\n');
  chmodSync(join(license, 'LICENSE'), 0o644);

  for (const page of p.man) {
    const section = page.slice(page.lastIndexOf('.') + 1);
    const file = join(stage, 'usr/share/man', `man${section}`, `${page}.gz`);
    mkdir(dirname(file));
    writeFileSync(file, gzipSync(readFileSync(join(root, 'dist/man', page)), { level: 9 }));
    chmodSync(file, 0o644);
  }
  for (const c of p.completions)
    put(
      join(root, 'dist/completion', c),
      join(stage, 'usr/share/bash-completion/completions', c),
      0o644,
    );

  if (p.withPam) {
    const module = pamModule ?? join(root, 'dist/pam/pam_idv.so');
    if (existsSync(module)) put(module, join(stage, RPM_PAM_DIR, 'pam_idv.so'), 0o755);
    else
      console.warn(
        'package: dist/pam/pam_idv.so is missing (npm run build needs cc and libpam0g-dev); the package will have no PAM module, and pam enable will use pam_exec',
      );
    mkdir(join(stage, 'usr/share/idv'));
    cpSync(join(root, 'packaging/pam'), join(stage, 'usr/share/idv/pam'), { recursive: true });
    cpSync(join(here, 'selinux'), join(stage, 'usr/share/idv/selinux'), { recursive: true });
  }
}

/** The %files list: every staged file and link, and only the folders the package owns. */
function filesList(p, stage) {
  const owned = new Set([
    p.lib,
    `/usr/share/doc/${p.name}`,
    `/usr/share/licenses/${p.name}`,
    ...(p.withPam ? ['/usr/share/idv'] : []),
  ]);
  const conf = new Set(Object.keys(p.settings));
  const lines = [
    '%defattr(-,root,root,-)',
    ...(OWNED_DIRS[p.name] ?? []).map((d) => `%dir %attr(${d.mode},root,root) ${d.path}`),
  ];
  const walk = (dir, inOwned) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const path = `/${relative(stage, full)}`;
      if (lstatSync(full).isDirectory()) {
        const mine = inOwned || owned.has(path);
        if (mine) lines.push(`%dir ${path}`);
        walk(full, mine);
      } else if (conf.has(path)) lines.push(`%config(noreplace) %attr(0600,root,root) ${path}`);
      else if (path.startsWith('/usr/share/licenses/')) lines.push(`%license ${path}`);
      else lines.push(path);
    }
  };
  walk(stage, false);
  return lines;
}

function scriptlet(root, p, name) {
  const file = join(root, 'packaging/rpm', p.name, name);
  return existsSync(file) ? [`%${name}`, readFileSync(file, 'utf8').trimEnd(), ''] : [];
}

/** Words in lines of at most 72 characters (rpmlint: description lines under 80). */
function wrap(text) {
  const lines = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > 72) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

/** `Mon Dec 07 2026`, the date form %changelog takes (in UTC). */
function changelogDate(d) {
  // toUTCString: "Mon, 07 Dec 2026 23:55:50 GMT"
  const [day, date, month, year] = d.toUTCString().replace(',', '').split(' ');
  return `${day} ${month} ${date} ${year}`;
}

function spec(p, { root, version, arch, stage }) {
  const [summary, ...rest] = p.description.split('\n');
  return [
    // The binary is Node's, stripped before the SEA blob was injected: stripping it again (or
    // splitting debug info out of it) would cut the blob off.
    '%global debug_package %{nil}',
    '%global __os_install_post %{nil}',
    '%global __strip /bin/true',
    '%define _build_id_links none',
    // xz level 1, as the .deb (docs/packaging.md): small enough, quick on a busy 2-core machine.
    '%define _binary_payload w1.xzdio',
    `Name: ${p.name}`,
    `Version: ${version}`,
    'Release: 1',
    `Summary: ${summary}`,
    'License: Apache-2.0',
    'Group: System Environment/Daemons',
    'Packager: idv maintainers <idv@localhost>',
    'URL: https://github.com/idv/idv',
    ...(p.withPam ? ['Requires: pam'] : []),
    'Requires(preun): /bin/sh',
    `ExclusiveArch: ${arch}`,
    '',
    '%description',
    wrap(rest.map((l) => l.trim()).join(' ')).replaceAll('%', '%%'),
    '',
    '%install',
    `cp -a ${stage}/. %{buildroot}/`,
    '',
    ...scriptlet(root, p, 'post'),
    ...scriptlet(root, p, 'preun'),
    ...scriptlet(root, p, 'postun'),
    '%files',
    ...filesList(p, stage),
    '',
    '%changelog',
    `* ${changelogDate(new Date())} idv maintainers <idv@localhost> - ${version}-1`,
    `- idv ${version} (docs/packaging.md)`,
    '',
  ].join('\n');
}

/**
 * @param {{ root: string, out: string, nodeArch?: string, pamModule?: string, cc?: string }} o
 *   nodeArch: the architecture packaging/out/idv was built for (Node's name); pamModule and cc:
 *   that architecture's pam_idv.so and C compiler (the launcher), for a cross build
 * @returns {string[]} the .rpm files written
 */
export function buildRpms({ root, out, nodeArch = process.arch, pamModule, cc }) {
  const missing = rpmbuildMissing();
  if (missing) throw Object.assign(new Error(missing), { code: 'RPMBUILD_MISSING' });
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  const arch = RPM_ARCH[nodeArch];
  if (!arch) throw new Error(`no RPM architecture for ${nodeArch}`);
  const top = join(out, 'rpm');
  rmSync(top, { recursive: true, force: true });
  const built = [];
  for (const p of PACKAGES) {
    const stage = join(top, 'stage', p.name);
    mkdir(stage);
    stagePackage(p, { root, out, stage, pamModule, cc });
    checkStagedPrograms(stage, arch);
    const specFile = join(top, `${p.name}.spec`);
    writeFileSync(specFile, spec(p, { root, version, arch, stage }));
    execFileSync(
      'rpmbuild',
      [
        '-bb',
        '--quiet',
        '--target',
        `${arch}-linux`,
        '--define',
        `_topdir ${join(top, 'top')}`,
        '--define',
        `_tmppath ${join(top, 'tmp')}`,
        // Debian's rpm has no RHEL macros; the build needs none of them.
        '--nodeps',
        specFile,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const name = `${p.name}-${version}-1.${arch}.rpm`;
    renameSync(join(top, 'top/RPMS', arch, name), join(out, name));
    built.push(join(out, name));
  }
  return built;
}
