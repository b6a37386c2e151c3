// Builds the single executable `idv` (Node SEA, from the local node, offline) and, with --deb,
// the Debian packages idv-agent and idv-server from it.
//
//   node scripts/package.mjs            → packaging/out/idv (+ node_sqlite3.node, links)
//   node scripts/package.mjs --deb      → the same, then packaging/out/*.deb
//   node scripts/package.mjs --deb-only → the .debs from an existing packaging/out/idv
//   node scripts/package.mjs --rpm      → the binary, then packaging/out/*.rpm (rpmbuild)
//   node scripts/package.mjs --rpm-only → the .rpms from an existing packaging/out/idv
//   ... --out DIR                       → into DIR instead of packaging/out
//   node scripts/package.mjs --repo DIR [--sign-key KEYID]
//                                       → a signed apt and yum repository in DIR of the packages
//                                         in packaging/out (after building them when --deb etc.
//                                         come too); packaging/repo/build.mjs, docs/install.md
//   ... --arch amd64|arm64              → for that architecture; another than this machine's is
//                                          cross-built (scripts/package-arch.mjs, no code cache)
//   node scripts/package.mjs --bundle-only → only the bundles in packaging/out/build/, with
//                                            idv-all.cjs (input of packaging/pkg/, other targets)
//
// Recipe (docs/packaging.md): esbuild one CommonJS bundle of packaging/sea/main.ts (SEA runs
// CommonJS only) → `node --experimental-sea-config` with useCodeCache → copy this node → strip it
// (before injecting: stripping afterwards would cut the blob) → postject the blob and flip the
// fuse. The sqlite3 addon cannot live in the blob; it sits beside the binary and is loaded with
// createRequire(process.execPath).
import { build } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import vm from 'node:vm';
import { buildDebs } from '../packaging/deb/build.mjs';
import { RepoError, buildRepo, packagesIn } from '../packaging/repo/build.mjs';
import { checkRpmTools, packageRpms, RPM_OPTIONS, wantsRpms } from '../packaging/rpm/package.mjs';
import { commitDefine } from './build-info.mjs';
import { buildLauncher } from './helper-launcher.mjs';
import {
  PackageError,
  buildPamModule,
  checkElf,
  crossSqliteAddon,
  parseArch,
  toolchain,
} from './package-arch.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
// --out DIR: build elsewhere than packaging/out (tests build into their own temp folders).
const outAt = argv.indexOf('--out');
const out = outAt >= 0 && argv[outAt + 1] ? resolve(argv[outAt + 1]) : join(root, 'packaging/out');
if (outAt >= 0) argv.splice(outAt, 2);
/** Takes `--flag VALUE` out of argv; exits with usage when the value is missing. */
function takeValue(flag) {
  const at = argv.indexOf(flag);
  if (at < 0) return undefined;
  const value = argv[at + 1];
  if (value === undefined || value.startsWith('--')) {
    console.error(`package: ${flag} needs a value`);
    process.exit(2);
  }
  argv.splice(at, 2);
  return value;
}
const repoDir = takeValue('--repo');
const signKey = takeValue('--sign-key');
if (signKey !== undefined && repoDir === undefined) {
  console.error('package: --sign-key goes with --repo DIR');
  process.exit(2);
}
const arch = takeArch();
const work = join(out, 'build');
const PROGRAMS = ['idv-server', 'idvctl', 'idv-agent', 'idv-pam-helper'];
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const ADDON = join(root, 'node_modules/sqlite3/build/Release/node_sqlite3.node');
const MAINS = ['server/main.ts', 'server/ctl/main.ts', 'agent/main.ts', 'pam-helper/main.ts'].map(
  (p) => join(root, p),
);

const args = new Set(argv);
for (const a of args) {
  if (!['--deb', '--deb-only', '--bundle-only', ...RPM_OPTIONS].includes(a)) {
    console.error(
      `package: unknown option ${a} (use --deb, --deb-only, --rpm, --rpm-only, --bundle-only, --repo DIR [--sign-key KEYID])`,
    );
    process.exit(2);
  }
}

/** `--arch ARCH` out of argv: Node's name of the target architecture (this machine's without it). */
function takeArch() {
  const at = argv.indexOf('--arch');
  if (at < 0) return process.arch;
  const value = argv[at + 1];
  argv.splice(at, 2);
  try {
    if (value === undefined || value.startsWith('--'))
      throw new PackageError('package: --arch needs a value (amd64 or arm64)', 2);
    return parseArch(value);
  } catch (err) {
    return fail(err);
  }
}

/** Prints a PackageError as it is (it says what to install) and exits; rethrows anything else. */
function fail(err) {
  if (!(err instanceof PackageError)) throw err;
  console.error(err.message);
  process.exit(err.exitCode);
}

function step(text) {
  console.log(`package: ${text}`);
}
checkRpmTools(args);

function run(cmd, argv, opts = {}) {
  execFileSync(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, ...opts });
}

/** The sqlite3 package finds its addon with `bindings`, which searches node_modules: point it
 *  at the file beside the executable instead. */
const sqliteAddonBesideBinary = {
  name: 'sqlite-addon-beside-binary',
  setup(b) {
    b.onLoad({ filter: /sqlite3[\\/]lib[\\/]sqlite3-binding\.js$/ }, () => ({
      contents:
        "module.exports = require('node:module').createRequire(process.execPath)('./node_sqlite3.node');",
      loader: 'js',
    }));
  },
};

/** Optional native modules that dependencies try to load inside try/catch (ws's speed-ups,
 *  systeminformation's macOS sensors). In the binary they are absent: the stub throws as a
 *  missing module would, and no require() of a file reaches SEA's builtins-only require (which
 *  prints a warning on every start). */
const OPTIONAL_ABSENT = [
  'bufferutil',
  'utf-8-validate',
  'macos-temperature-sensor',
  'osx-temperature-sensor',
];
const optionalModulesAbsent = {
  name: 'optional-modules-absent',
  setup(b) {
    const filter = new RegExp(`^(${OPTIONAL_ABSENT.join('|')})$`);
    b.onResolve({ filter }, (a) => ({ path: a.path, namespace: 'absent' }));
    b.onLoad({ filter: /.*/, namespace: 'absent' }, (a) => ({
      contents: `throw Object.assign(new Error("Cannot find module '${a.path}'"), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};

/**
 * The program mains use top-level await (`process.exitCode = await runProgram(...)`), which
 * CommonJS, the only format Node 20's SEA runs, does not have. For the single executable each
 * main's statements (all but its imports) move into one async function called at once: the
 * main runs exactly as before, after its imports, and nothing else in the bundle imports from a
 * main (the multi-call entry only loads it). Exports lose their `export`; a module that imported
 * them would fail the build loudly.
 */
const mainsWithoutTopLevelAwait = {
  name: 'mains-without-top-level-await',
  setup(b) {
    const mains = new Set(MAINS);
    b.onLoad({ filter: /main\.ts$/ }, (a) => {
      if (!mains.has(a.path)) return undefined;
      const source = readFileSync(a.path, 'utf8');
      const file = ts.createSourceFile(a.path, source, ts.ScriptTarget.Latest, true);
      const imports = [];
      const body = [];
      for (const st of file.statements) {
        const text = source.slice(st.getFullStart(), st.getEnd());
        if (ts.isImportDeclaration(st)) imports.push(text);
        else if (ts.isExportDeclaration(st) || ts.isExportAssignment(st)) continue;
        else {
          const exp = st.modifiers?.find((m) => m.kind === ts.SyntaxKind.ExportKeyword);
          body.push(
            exp
              ? source.slice(st.getFullStart(), exp.getStart()) +
                  source.slice(exp.getEnd(), st.getEnd())
              : text,
          );
        }
      }
      const contents = `${imports.join('\n')}\nvoid (async () => {\n${body.join('\n')}\n})();\n`;
      return { contents, loader: 'ts' };
    });
  },
};

const ESBUILD_COMMON = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  packages: 'bundle',
  legalComments: 'none',
  minifySyntax: true,
  logLevel: 'warning',
  define: commitDefine(root),
  plugins: [sqliteAddonBesideBinary, optionalModulesAbsent, mainsWithoutTopLevelAwait],
};

/** Wraps CommonJS code the way packaging/sea/main.ts compiles the programs asset. */
const wrapProgramsAsset = (code) => `(function (exports, require, module) {${code}\n})`;

/** Builds both bundles: the SEA main (dispatch + helper) and the programs asset. */
async function bundle() {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  step('bundling packaging/sea/main.ts (dispatch + helper) and programs.ts (esbuild, CommonJS)');
  const main = join(work, 'idv.cjs');
  const programs = join(work, 'programs.cjs');
  await build({
    ...ESBUILD_COMMON,
    entryPoints: [join(root, 'packaging/sea/main.ts')],
    outfile: main,
  });
  await build({
    ...ESBUILD_COMMON,
    entryPoints: [join(root, 'packaging/sea/programs.ts')],
    outfile: programs,
  });
  return { main, programs };
}

/**
 * LIEF, inside postject, warns once per note section it lays out again beside the blob's new
 * segment ("Can't find string offset for section name '.note.100'", twelve times for Node 20):
 * it finds no name for them in the section-name table and leaves them nameless. Nothing reads
 * section names at run time (the loader goes by program headers); the binary is started below
 * before it can reach a package. That exact line is hidden (counted); any other output shows.
 */
const KNOWN_LIEF_WARNING = /^warning: Can't find string offset for section name '\.note(\.\d+)?'$/;

function postject(exe, blob) {
  const r = spawnSync(
    join(root, 'node_modules/.bin/postject'),
    [exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE],
    { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
  );
  let hidden = 0;
  for (const [text, stream] of [
    [r.stdout, process.stdout],
    [r.stderr, process.stderr],
  ]) {
    for (const line of (text ?? '').split('\n')) {
      if (KNOWN_LIEF_WARNING.test(line)) hidden++;
      else if (line.trim() !== '') stream.write(`${line}\n`);
    }
  }
  if (r.status !== 0) throw new Error(`postject failed (${r.status ?? r.signal})`);
  if (hidden)
    step(`postject: ${hidden} known LIEF note-section warnings hidden (docs/packaging.md)`);
}

async function buildBinary(tc) {
  for (const p of ['idv', 'node_sqlite3.node', ...PROGRAMS]) rmSync(join(out, p), { force: true });
  const { main, programs } = await bundle();
  // The addon first: a cross build that cannot make it stops before anything is in out/.
  let addon = ADDON;
  if (tc.cross) {
    step(`building the sqlite3 addon for ${tc.target.deb} (node-gyp, ${tc.cxx})`);
    addon = crossSqliteAddon(root, work, tc);
  }
  // V8 code cache for the programs asset, made by this same node binary (V8 checks version and
  // flags and silently recompiles when they differ). A cache made by this machine's node is of
  // no use to another architecture's: a cross build has none (docs/packaging.md).
  const cache = join(work, 'programs.cache');
  if (!tc.cross)
    writeFileSync(
      cache,
      new vm.Script(wrapProgramsAsset(readFileSync(programs, 'utf8')), {
        filename: 'idv-programs.cjs',
      }).createCachedData(),
    );

  step(`preparing the SEA blob (${tc.cross ? 'no code cache: cross build' : 'useCodeCache'})`);
  const blob = join(work, 'sea-prep.blob');
  const config = join(work, 'sea-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      main,
      output: blob,
      assets: { 'programs.cjs': programs, ...(tc.cross ? {} : { 'programs.cache': cache }) },
      disableExperimentalSEAWarning: true,
      useCodeCache: !tc.cross,
      // Node 24's SEA then ignores NODE_OPTIONS; the helper's launcher still drops the rest
      // of the environment (pam-helper/launcher.c, docs/pam.md).
      execArgvExtension: 'none',
    }),
  );
  run(process.execPath, ['--experimental-sea-config', config]);

  step(`copying ${tc.node}, stripping it, injecting the blob`);
  const exe = join(out, 'idv');
  copyFileSync(tc.node, exe);
  chmodSync(exe, 0o755);
  // strip warns about Node's many .note sections; the warnings are harmless, so keep them quiet.
  run(tc.strip, ['--strip-all', exe], { stdio: ['ignore', 'inherit', 'ignore'] });
  postject(exe, blob);
  copyFileSync(addon, join(out, 'node_sqlite3.node'));
  chmodSync(join(out, 'node_sqlite3.node'), 0o644);
  // idv-pam-helper is not a link: pam_exec runs the launcher, which drops NODE_OPTIONS and every
  // other variable but PAM_* before it execs the binary (pam-helper/launcher.c).
  for (const p of PROGRAMS) if (p !== 'idv-pam-helper') symlinkSync('idv', join(out, p));
  const launcher = buildLauncher({
    out: join(out, 'idv-pam-helper'),
    exec: exe,
    cc: tc.cc,
    strip: tc.strip,
  });
  step(
    `built the helper launcher (${launcher.static ? 'static' : 'dynamic: LD_* variables reach it'})`,
  );

  // A binary that cannot start must not reach a package. One for another architecture is not
  // run by the build (that needs qemu-user and a root of that architecture; the arm64 one is run
  // by tests/e2e/arm64-deb.test.ts): its files are checked to be programs of it instead.
  let version;
  if (tc.cross) {
    for (const f of ['idv', 'node_sqlite3.node', 'idv-pam-helper']) checkElf(join(out, f), tc);
    version = `not run here (${tc.target.deb}); idv, node_sqlite3.node and idv-pam-helper are ${tc.target.deb} ELF files`;
  } else version = execFileSync(join(out, 'idv-agent'), ['--version'], { encoding: 'utf8' }).trim();
  step(
    `built packaging/out/idv for ${tc.target.deb} (${(statSync(exe).size / 1e6).toFixed(1)} MB), idv-agent --version → ${version}`,
  );
}

/** The Debian packages for `tc`'s architecture from out/idv (built for it), with its pam_idv.so. */
function buildDebsFor(tc) {
  const exe = join(out, 'idv');
  if (!existsSync(exe)) {
    console.error('package: packaging/out/idv is missing; run `npm run package` first');
    process.exit(1);
  }
  checkElf(exe, tc);
  checkElf(join(out, 'node_sqlite3.node'), tc);
  const pamModule = tc.cross
    ? buildPamModule(root, join(work, `pam_idv-${tc.target.deb}.so`), tc)
    : join(root, 'dist/pam/pam_idv.so');
  return buildDebs({ root, out, arch: tc.arch, pamModule, cc: tc.cc, strip: tc.strip });
}

if (args.has('--bundle-only')) {
  await bundle();
  // One script with everything, for pkg (packaging/pkg/), which has no SEA assets.
  await build({
    ...ESBUILD_COMMON,
    entryPoints: [join(root, 'packaging/sea/all.ts')],
    outfile: join(work, 'idv-all.cjs'),
  });
  step('bundled packaging/out/build/idv-all.cjs for pkg');
} else if (!(repoDir !== undefined && args.size === 0)) {
  try {
    const tc = toolchain(arch);
    if (!args.has('--deb-only') && !args.has('--rpm-only')) await buildBinary(tc);
    if (args.has('--deb') || args.has('--deb-only'))
      for (const deb of buildDebsFor(tc)) step(`built ${deb}`);
    if (wantsRpms(args)) {
      const pamModule = tc.cross
        ? buildPamModule(root, join(work, `pam_idv-${tc.target.deb}.so`), tc)
        : undefined;
      packageRpms({ root, out, args, step, nodeArch: tc.arch, pamModule, cc: tc.cc });
    }
  } catch (err) {
    fail(err);
  }
}
if (repoDir !== undefined) {
  try {
    const fpr = buildRepo({ dir: repoDir, files: packagesIn(out), keyId: signKey });
    step(`laid out a repository signed by ${fpr} in ${resolve(repoDir)}`);
  } catch (err) {
    if (!(err instanceof RepoError)) throw err;
    console.error(`package: ${err.message}`);
    process.exit(1);
  }
}
