// Builds packaging/out/idv-agent_<version>_<arch>.deb and idv-server_<version>_<arch>.deb with
// dpkg-deb from the single executable in packaging/out/ (scripts/package.mjs --deb).
//
// Each package carries its own copy of the binary and the sqlite3 addon in a private folder
// (/usr/lib/idv, /usr/lib/idv-server; the binary finds the addon beside its real path), with
// the program names as links in /usr/bin (idv-pam-helper: the launcher of
// pam-helper/launcher.c, which starts the binary with only the PAM_* variables). The two
// packages install side by side. The agent's package also carries pam_idv.so (built by
// scripts/build.mjs into dist/pam/) in the system's PAM module folder, where PAM finds it by its
// bare name.
//
// No dpkg conffiles: the settings files the install docs tell admins to edit
// (/etc/idv-server/server.env, /etc/idv/agent.env) are the admin's. Each package ships the
// defaults under /usr/share (stamped with the version) and its postinst copies them to /etc only
// when the file is absent, so an upgrade never stops at dpkg's "modified conffile" question
// (which, non-interactively, left the package half-configured and the service not restarted).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildLauncher } from '../../scripts/helper-launcher.mjs';

const ARCH = { x64: 'amd64', arm64: 'arm64' };
const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/**
 * The PAM module folder as this system's PAM package lays it out: the folder of pam_unix.so
 * (`/lib/x86_64-linux-gnu/security` on Debian amd64), else Debian's multiarch default; for
 * another architecture the same layout with its multiarch triplet (`/lib/aarch64-linux-gnu/...`).
 */
export function pamModuleDir(arch = process.arch) {
  const native = MULTIARCH[process.arch] ?? MULTIARCH.x64;
  try {
    const files = execFileSync('dpkg-query', ['-L', 'libpam-modules'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).split('\n');
    const unix = files.find((f) => f.endsWith('/security/pam_unix.so'));
    if (unix) return dirname(unix).replace(native, MULTIARCH[arch]);
  } catch {
    // no dpkg-query or no libpam-modules: the default below
  }
  return `/lib/${MULTIARCH[arch]}/security`;
}

export const PACKAGES = [
  {
    name: 'idv-agent',
    lib: '/usr/lib/idv',
    links: ['idv-agent', 'idv-pam-helper'],
    man: ['idv-agent.8', 'idv-pam-helper.8', 'pam_idv.8'],
    completions: [],
    units: ['idv-agent.service', 'idv-agent.socket'],
    settings: { '/etc/idv/agent.env': ['agent.env', '/usr/share/idv/agent.env'] },
    description:
      'idv device agent and PAM helper (TOTP second factor for logins)\n' +
      ' Keeps this machine in sync with idv-server, caches users, secrets and policy, and\n' +
      ' decides each login (sudo, su, login, sshd) through the PAM module pam_idv.so\n' +
      ' (or idv-pam-helper and pam_exec).\n' +
      ' Installing it does not change /etc/pam.d: run `idv-agent pam enable` for that.',
    withPam: true,
  },
  {
    name: 'idv-server',
    lib: '/usr/lib/idv-server',
    links: ['idv-server', 'idvctl'],
    man: ['idv-server.8', 'idvctl.1'],
    completions: ['idvctl'],
    units: ['idv-server.service'],
    settings: {
      '/etc/idv-server/server.env': ['server.env', '/usr/share/idv-server/server.env'],
    },
    description:
      'idv server and admin CLI (TOTP second factor for logins)\n' +
      ' Users, groups, devices, policy and enrollment, with an admin HTTP API and idvctl;\n' +
      ' pushes each registered machine its users and secrets over WebSocket.',
    withPam: false,
  },
];

function mkdir(path, mode = 0o755) {
  mkdirSync(path, { recursive: true });
  chmodSync(path, mode);
}

/**
 * @param {{ root: string, out: string, version?: string, arch?: string, pamModule?: string,
 *   cc?: string, strip?: string }} opts `version` overrides package.json's (tests build a second
 *   version to upgrade to); arch: Node's name of the target (this machine's by default);
 *   pamModule: pam_idv.so built for it (dist/pam/pam_idv.so by default); cc, strip: its
 *   toolchain for the helper's launcher. Both packages are written as `.partial` files and
 *   renamed only when both are complete: a failed build leaves no package (and none of the last
 *   build's).
 * @returns {string[]} the .deb files written
 */
export function buildDebs({
  root,
  out,
  version: override,
  arch: nodeArch = process.arch,
  pamModule = join(root, 'dist/pam/pam_idv.so'),
  cc,
  strip,
}) {
  const version = override ?? JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  const arch = ARCH[nodeArch];
  if (!arch) throw new Error(`no Debian architecture for ${nodeArch}`);
  for (const p of PACKAGES) {
    const deb = join(out, `${p.name}_${version}_${arch}.deb`);
    for (const f of [deb, `${deb}.partial`]) rmSync(f, { force: true });
  }
  const here = join(root, 'packaging/deb');
  const built = [];
  for (const p of PACKAGES) {
    const stage = join(out, 'deb', p.name);
    rmSync(stage, { recursive: true, force: true });
    const lib = join(stage, p.lib);
    mkdir(lib);
    copyFileSync(join(out, 'idv'), join(lib, 'idv'));
    chmodSync(join(lib, 'idv'), 0o755);
    copyFileSync(join(out, 'node_sqlite3.node'), join(lib, 'node_sqlite3.node'));
    chmodSync(join(lib, 'node_sqlite3.node'), 0o644);
    mkdir(join(stage, 'usr/bin'));
    for (const l of p.links) {
      // The helper is the launcher that starts the binary with only the PAM_* variables.
      if (l === 'idv-pam-helper')
        buildLauncher({ out: join(stage, 'usr/bin', l), exec: join(p.lib, 'idv'), cc, strip });
      else symlinkSync(`../lib/${p.lib.split('/').pop()}/idv`, join(stage, 'usr/bin', l));
    }

    mkdir(join(stage, 'lib/systemd/system'));
    for (const unit of p.units) {
      copyFileSync(join(root, 'packaging/systemd', unit), join(stage, 'lib/systemd/system', unit));
      chmodSync(join(stage, 'lib/systemd/system', unit), 0o644);
    }

    // The defaults of each settings file; postinst makes /etc's copy only if there is none.
    for (const [target, [source, shipped]] of Object.entries(p.settings)) {
      mkdir(dirname(join(stage, shipped)));
      writeFileSync(
        join(stage, shipped),
        `# Defaults of ${p.name} ${version}. ${target} starts as a copy of this file and is yours\n` +
          `# from then on: upgrades never change it (compare with ${shipped}).\n` +
          readFileSync(join(here, p.name, source), 'utf8'),
      );
      chmodSync(join(stage, shipped), 0o644);
    }

    const doc = join(stage, 'usr/share/doc', p.name);
    mkdir(doc);
    writeFileSync(
      join(doc, 'copyright'),
      `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: idv\n\nFiles: *\nLicense: Apache-2.0\n See /usr/share/common-licenses/Apache-2.0.\n`,
    );
    // The README (the units' Documentation= points at it) and docs/ beside it, so its relative
    // links (docs/install.md, ...) work in the installed copy too.
    copyFileSync(join(root, 'README.md'), join(doc, 'README.md'));
    mkdir(join(doc, 'docs'));
    for (const d of readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')))
      copyFileSync(join(root, 'docs', d), join(doc, 'docs', d));

    // Manual pages (gzip -9n, as Debian policy asks) and bash completion, built by npm run build.
    for (const page of p.man) {
      const section = page.slice(page.lastIndexOf('.') + 1);
      const dir = join(stage, 'usr/share/man', `man${section}`);
      mkdir(dir);
      writeFileSync(
        join(dir, `${page}.gz`),
        gzipSync(readFileSync(join(root, 'dist/man', page)), { level: 9 }),
      );
      chmodSync(join(dir, `${page}.gz`), 0o644);
    }
    for (const c of p.completions) {
      const dir = join(stage, 'usr/share/bash-completion/completions');
      mkdir(dir);
      copyFileSync(join(root, 'dist/completion', c), join(dir, c));
      chmodSync(join(dir, c), 0o644);
    }

    if (p.withPam) {
      const module = pamModule;
      if (existsSync(module)) {
        const dir = join(stage, pamModuleDir(nodeArch));
        mkdir(dir);
        copyFileSync(module, join(dir, 'pam_idv.so'));
        chmodSync(join(dir, 'pam_idv.so'), 0o644);
      } else
        console.warn(
          'package: dist/pam/pam_idv.so is missing (npm run build needs cc and libpam0g-dev); the package will have no PAM module, and pam enable will use pam_exec',
        );
      const pam = join(root, 'packaging/pam');
      const dest = join(stage, 'usr/share/idv/pam');
      mkdir(dest);
      if (existsSync(pam)) cpSync(pam, dest, { recursive: true });
      else console.warn('package: packaging/pam/ is missing; /usr/share/idv/pam will be empty');
    }

    const debian = join(stage, 'DEBIAN');
    mkdir(debian);
    const installedKb = Math.ceil(
      Number(
        execFileSync('du', ['-sk', '--exclude=DEBIAN', stage], { encoding: 'utf8' }).split('\t')[0],
      ),
    );
    writeFileSync(
      join(debian, 'control'),
      [
        `Package: ${p.name}`,
        `Version: ${version}`,
        `Architecture: ${arch}`,
        'Maintainer: idv maintainers <idv@localhost>',
        `Installed-Size: ${installedKb}`,
        `Depends: libc6 (>= 2.28), libstdc++6, libgcc-s1${p.withPam ? ', libpam0g' : ''}`,
        ...(p.withPam ? ['Recommends: libpam-modules'] : []),
        'Section: admin',
        'Priority: optional',
        'Homepage: https://github.com/idv/idv',
        `Description: ${p.description}`,
        '',
      ].join('\n'),
    );
    for (const script of readdirSync(join(here, p.name)).filter((f) =>
      /^(pre|post)(inst|rm)$/.test(f),
    )) {
      copyFileSync(join(here, p.name, script), join(debian, script));
      chmodSync(join(debian, script), 0o755);
    }
    const deb = join(out, `${p.name}_${version}_${arch}.deb`);
    // xz -1: 20% smaller than gzip -6 (27 MB instead of 34 MB) at about the same build time;
    // xz -6 saves 3.5 MB more but takes minutes on a busy 2-core machine (docs/packaging.md).
    execFileSync(
      'dpkg-deb',
      ['--root-owner-group', '-Zxz', '-z1', '--build', stage, `${deb}.partial`],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    built.push(deb);
  }
  for (const deb of built) renameSync(`${deb}.partial`, deb);
  return built;
}
