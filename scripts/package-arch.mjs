// The target architecture of `npm run package -- --arch ARCH`, and what building for it takes
// when it is not this machine's (linux-arm64 on an amd64 builder): the Node.js build of that
// architecture from the npm registry (scripts/node-runtime.mjs), Debian's cross compilers
// for the sqlite3 addon, pam_idv.so and the helper's launcher, and the arm64 PAM library through
// multiarch. Everything is checked before anything is built; a missing piece names the Debian
// package that brings it and the build stops with nothing written (docs/packaging.md).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { nodeBuild } from './node-runtime.mjs';

/** Node's arch name → what Debian and the GNU toolchain call it, and the ELF machine number. */
export const TARGETS = {
  x64: { deb: 'amd64', gnu: 'x86_64-linux-gnu', elf: 0x3e, qemu: 'qemu-x86_64-static' },
  arm64: { deb: 'arm64', gnu: 'aarch64-linux-gnu', elf: 0xb7, qemu: 'qemu-aarch64-static' },
};
const ALIASES = { x64: 'x64', amd64: 'x64', x86_64: 'x64', arm64: 'arm64', aarch64: 'arm64' };

/** A refusal the package script prints as is and exits with (2: wrong usage, 1: cannot build). */
export class PackageError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** `--arch` → Node's arch name; an unknown one is refused with the names that work. */
export function parseArch(text) {
  const arch = ALIASES[text];
  if (!arch)
    throw new PackageError(
      `package: unknown --arch ${JSON.stringify(text)} (use amd64 or arm64; x64 and aarch64 are the same)`,
      2,
    );
  return arch;
}

const installed = (pkg) =>
  spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes(
    'install ok installed',
  ) === true;
const has = (cmd) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * The tools and the Node.js build for `arch`: this machine's own for the host architecture,
 * the cross toolchain otherwise. Throws PackageError listing every missing Debian package.
 * @returns {{ arch: string, cross: boolean, node: string, nodedir: string|null, cc: string,
 *   cxx: string, strip: string, ar: string, target: typeof TARGETS.x64 }}
 */
export function toolchain(arch) {
  const target = TARGETS[arch];
  if (arch === process.arch)
    return {
      arch,
      cross: false,
      node: process.execPath,
      nodedir: null,
      cc: process.env.CC || 'cc',
      cxx: process.env.CXX || 'c++',
      strip: 'strip',
      ar: 'ar',
      target,
    };
  if (process.platform !== 'linux' || !TARGETS[process.arch])
    throw new PackageError(`package: cross builds need a Linux amd64 or arm64 builder`);
  const t = target.gnu;
  const tc = {
    arch,
    cross: true,
    cc: `${t}-gcc`,
    cxx: `${t}-g++`,
    strip: `${t}-strip`,
    ar: `${t}-ar`,
    target,
  };
  const missing = [];
  if (!has(tc.cc)) missing.push(`gcc-${t}`);
  if (!has(tc.cxx)) missing.push(`g++-${t}`);
  if (!has(tc.strip)) missing.push(`binutils-${t}`);
  // The PAM module and its headers for the target: multiarch's libpam0g-dev:arm64.
  if (has(tc.cc)) {
    const probe = spawnSync(tc.cc, ['-shared', '-x', 'c', '-o', '/dev/null', '-', '-lpam'], {
      input:
        '#include <security/pam_modules.h>\nint f(pam_handle_t *h) { return pam_get_item(h, 0, 0); }\n',
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    if (probe.status !== 0) missing.push(`libpam0g-dev:${target.deb}`);
  } else if (!installed(`libpam0g-dev:${target.deb}`)) missing.push(`libpam0g-dev:${target.deb}`);
  if (missing.length) {
    const multiarch = missing.some((m) => m.includes(':'))
      ? `dpkg --add-architecture ${target.deb} && apt-get update && `
      : '';
    throw new PackageError(
      `package: building for ${target.deb} needs ${missing.join(', ')}; install with:\n  ${multiarch}apt-get install --no-install-recommends ${missing.join(' ')}`,
    );
  }
  // The blob is made by this node and run by the target's: the same Node.js version, exactly.
  const version = process.version.slice(1);
  let dir;
  try {
    dir = nodeBuild(arch, version);
  } catch (err) {
    throw new PackageError(`package: ${err.message}`);
  }
  return { ...tc, node: join(dir, 'bin', 'node'), nodedir: dir };
}

/** The ELF machine of a file (0x3e x86-64, 0xb7 aarch64), null when it is no ELF file. */
export function elfMachine(file) {
  const head = readFileSync(file).subarray(0, 20);
  if (head.length < 20 || head.toString('latin1', 0, 4) !== '\x7fELF') return null;
  return head.readUInt16LE(18);
}

/** Refuses a file that is not built for the target (a stale packaging/out/idv of another arch). */
export function checkElf(file, tc) {
  const m = elfMachine(file);
  if (m !== tc.target.elf)
    throw new PackageError(
      `package: ${file} is not an ${tc.target.deb} program (ELF machine ${m === null ? 'none' : `0x${m.toString(16)}`}); build it with npm run package -- --arch ${tc.target.deb}`,
    );
}

/**
 * The sqlite3 addon for a foreign target: node_modules/sqlite3 copied into `work` (the host's
 * own build stays untouched) and built there by node-gyp against the target's Node headers with
 * the cross compilers. Returns the path of node_sqlite3.node.
 */
export function crossSqliteAddon(root, work, tc) {
  // Compiling sqlite3 with a cross compiler takes minutes: the result is kept per sqlite3
  // version and target Node build (its headers and ABI), outside the checkout.
  const sqlite = JSON.parse(readFileSync(join(root, 'node_modules/sqlite3/package.json'), 'utf8'));
  const cacheDir = join(
    process.env.IDV_BUILD_CACHE || join(homedir(), '.cache', 'idv', 'addons'),
    `sqlite3-${sqlite.version}-${basename(tc.nodedir)}`,
  );
  const cached = join(cacheDir, 'node_sqlite3.node');
  if (existsSync(cached)) {
    checkElf(cached, tc);
    return cached;
  }
  const dir = join(work, `sqlite3-${tc.target.deb}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  cpSync(join(root, 'node_modules/sqlite3'), dir, {
    recursive: true,
    filter: (src) => !src.startsWith(join(root, 'node_modules/sqlite3/build')),
  });
  const gyp = join(root, 'node_modules/node-gyp/bin/node-gyp.js');
  if (!existsSync(gyp)) throw new PackageError('package: node_modules/node-gyp is missing: npm ci');
  const r = spawnSync(
    process.execPath,
    [gyp, 'rebuild', `--arch=${tc.arch}`, `--nodedir=${tc.nodedir}`, '--jobs=2'],
    {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...process.env,
        CC: tc.cc,
        CXX: tc.cxx,
        LINK: tc.cxx,
        AR: tc.ar,
        // binding.gyp asks `node -p "require('node-addon-api').include"` from the copy
        NODE_PATH: [join(root, 'node_modules'), process.env.NODE_PATH]
          .filter(Boolean)
          .join(delimiter),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const addon = join(dir, 'build/Release/node_sqlite3.node');
  if (r.status !== 0 || !existsSync(addon))
    throw new PackageError(
      `package: the ${tc.target.deb} sqlite3 addon did not build (node-gyp exit ${r.status ?? r.signal}):\n${`${r.stdout}${r.stderr}`.split('\n').slice(-15).join('\n')}`,
    );
  checkElf(addon, tc);
  mkdirSync(cacheDir, { recursive: true });
  copyFileSync(addon, `${cached}.partial`);
  renameSync(`${cached}.partial`, cached);
  return cached;
}

/** pam_idv.so for the target, by pam-module/build.json's recipe with the target's compiler. */
export function buildPamModule(root, outFile, tc) {
  const recipe = JSON.parse(readFileSync(join(root, 'pam-module/build.json'), 'utf8'));
  mkdirSync(join(outFile, '..'), { recursive: true });
  execFileSync(
    tc.cc,
    [
      ...recipe.cflags,
      ...recipe.linux,
      '-o',
      outFile,
      ...recipe.sources.map((s) => join(root, s)),
      ...recipe.libs,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  execFileSync(tc.strip, ['--strip-unneeded', outFile]);
  checkElf(outFile, tc);
  return outFile;
}
