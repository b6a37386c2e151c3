/**
 * The packages of this checkout, built once per state of the source tree and shared by the test
 * files that need them (building the single binary takes a minute or more): kept under
 * node_modules/.cache/idv-packages/<hash of HEAD, the diff and the untracked files>.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { waitFor } from './agent.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'idv-packages');

function treeHash(flags: string[]): string {
  const git = (args: string[]) => execFileSync('git', args, { cwd: ROOT });
  return createHash('sha256')
    .update(flags.join(' '))
    .update(git(['rev-parse', 'HEAD']))
    .update(git(['diff', 'HEAD', '--binary']))
    .update(git(['ls-files', '--others', '--exclude-standard']))
    .digest('hex')
    .slice(0, 16);
}

/**
 * The folder with the built packages (`npm run package -- ...flags --out DIR`), building them
 * if no test file has yet for this tree. One builder at a time; the others wait for it.
 */
export async function builtPackages(flags: string[] = ['--deb']): Promise<string> {
  // A folder of packages built beforehand (by hand, or another checkout's): used as it is.
  if (process.env.IDV_TEST_PACKAGES) return resolve(process.env.IDV_TEST_PACKAGES);
  const dir = join(CACHE, treeHash(flags));
  if (existsSync(dir)) return dir;
  mkdirSync(CACHE, { recursive: true });
  const lock = `${dir}.lock`;
  try {
    mkdirSync(lock);
  } catch {
    await waitFor(
      () => existsSync(dir) || !existsSync(lock),
      'another test file to build the packages',
      600_000,
    );
    return builtPackages(flags);
  }
  try {
    // Builds of earlier trees (a day old): they only take room.
    for (const old of readdirSync(CACHE)) {
      const p = join(CACHE, old);
      if (Date.now() - statSync(p).mtimeMs > 86_400_000)
        rmSync(p, { recursive: true, force: true });
    }
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    execFileSync(process.execPath, [join(ROOT, 'scripts/package.mjs'), ...flags, '--out', tmp], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    renameSync(tmp, dir);
    return dir;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
