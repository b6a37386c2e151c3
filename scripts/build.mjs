// Builds the four programs into dist/ with esbuild: one bundle per program, then the native PAM
// module dist/pam/pam_idv.so where a C compiler and the PAM headers are there (pam-module/).
// Server, idvctl and agent are ESM and keep their npm dependencies external (native addons among
// them). The PAM helper is bundled whole as CommonJS: a login then loads one small file through
// Node's CommonJS loader, which starts measurably faster than the ESM loader (docs/benchmarks.md).
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { commitDefine } from './build-info.mjs';
import { CHECKOUT_LAUNCHER, buildLauncher } from './helper-launcher.mjs';
import { NODE_MAJOR, ensureNode } from './node-runtime.mjs';

// idv runs on Node.js 24: on an older node (npm ci on a machine with Node 20, say) fetch 24, link
// it as node_modules/.bin/node for every later npm script, and build again under it, so that the
// helper's launcher and the manual pages come from the node the programs will run on.
if (Number(process.versions.node.split('.')[0]) < NODE_MAJOR) {
  const node = ensureNode(process.cwd());
  console.log(`build: Node.js ${process.version} is older than ${NODE_MAJOR}; using ${node}`);
  const r = spawnSync(node, process.argv.slice(1), { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const { build } = await import('esbuild');

const programs = [
  { entry: 'server/main.ts', out: 'idv-server.js' },
  { entry: 'server/ctl/main.ts', out: 'idvctl.js' },
  { entry: 'agent/main.ts', out: 'idv-agent.js' },
  { entry: 'pam-helper/main.ts', out: 'idv-pam-helper.cjs', helper: true },
];

mkdirSync('dist', { recursive: true });
const define = commitDefine(process.cwd());
await Promise.all(
  programs.map((p) =>
    build({
      entryPoints: [p.entry],
      outfile: `dist/${p.out}`,
      bundle: true,
      platform: 'node',
      target: 'node24',
      format: p.helper ? 'cjs' : 'esm',
      packages: p.helper ? 'bundle' : 'external',
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'warning',
      define,
    }),
  ),
);
for (const p of programs) chmodSync(`dist/${p.out}`, 0o755);

// The PAM module: optional for a checkout (the helper works without it), so a machine without a
// compiler or the headers gets one line saying why and how, and the build goes on. A module that
// does not compile where it can be compiled is a real error.
const recipe = JSON.parse(readFileSync('pam-module/build.json', 'utf8'));
const cc = process.env.CC || 'cc';
const hasCc = spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0;
const hasHeaders =
  hasCc &&
  spawnSync(cc, ['-E', '-x', 'c', '-'], {
    input: '#include <security/pam_modules.h>\n',
    stdio: ['pipe', 'ignore', 'ignore'],
  }).status === 0;
if (!hasHeaders) {
  console.log(
    `pam_idv.so not built: ${hasCc ? 'no PAM headers (security/pam_modules.h)' : `no C compiler (${cc})`}; to build it: apt-get install ${hasCc ? '' : 'gcc '}libpam0g-dev, then npm run build`,
  );
} else {
  mkdirSync(path.dirname(recipe.output), { recursive: true });
  const platform = process.platform === 'darwin' ? recipe.darwin : recipe.linux;
  const r = spawnSync(
    cc,
    [...recipe.cflags, ...platform, '-o', recipe.output, ...recipe.sources, ...recipe.libs],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) {
    console.error(`pam_idv.so: ${cc} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

// ./bin/idv-pam-helper links to dist/idv-pam-helper: the launcher that starts this node by its
// absolute path with only the PAM_* variables (pam-helper/launcher.c says why). Without a C
// compiler there is no safe way to start the helper, so it only refuses, and says so.
try {
  buildLauncher({
    out: CHECKOUT_LAUNCHER,
    exec: realpathSync(process.execPath),
    script: path.resolve('dist/idv-pam-helper.cjs'),
  });
} catch (err) {
  console.warn(
    `build: cannot compile the helper launcher (${err.message.split('\n')[0]}); ./bin/idv-pam-helper will refuse every login`,
  );
  writeFileSync(
    CHECKOUT_LAUNCHER,
    '#!/bin/sh\necho "Verification service unavailable: idv-pam-helper was built without a C compiler"\nexit 1\n',
    { mode: 0o755 },
  );
}

// Manual pages and bash completion: idvctl, idv-server and idv-agent print theirs from the same
// command table as --help (protocol/cli-man.ts); the helper's and the module's are hand-written in
// packaging/man (tests/unit/manpages.test.ts keeps them equal to the options the code accepts).
mkdirSync('dist/man', { recursive: true });
mkdirSync('dist/completion', { recursive: true });
const pages = [
  { bin: 'idvctl', page: 'idvctl.1' },
  { bin: 'idv-server', page: 'idv-server.8' },
  { bin: 'idv-agent', page: 'idv-agent.8' },
];
for (const { bin, page } of pages) {
  const run = (flag) => {
    const r = spawnSync(process.execPath, [`dist/${bin}.js`, flag], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${bin} ${flag} failed: ${r.stderr}`);
    return r.stdout;
  };
  writeFileSync(`dist/man/${page}`, run('--manpage'));
  if (bin === 'idvctl') writeFileSync('dist/completion/idvctl', run('--completion-bash'));
}
for (const page of ['idv-pam-helper.8', 'pam_idv.8'])
  copyFileSync(`packaging/man/${page}`, `dist/man/${page}`);
