// The commit a build is stamped with (protocol/version.ts IDV_COMMIT): `git rev-parse --short
// HEAD` of the checkout; IDV_COMMIT in the environment instead (a build from a source tarball, or
// a packager that wants the upstream commit); `unknown` when neither is there. Used by
// scripts/build.mjs (dist/) and scripts/package.mjs (the single executable and the packages).
import { spawnSync } from 'node:child_process';

const COMMIT = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,39}$/;

/** @param {string} root the checkout @returns {string} */
export function buildCommit(root) {
  const given = process.env.IDV_COMMIT;
  if (given !== undefined && given !== '') {
    if (!COMMIT.test(given)) {
      console.error(
        `build: IDV_COMMIT=${JSON.stringify(given.slice(0, 60))} is not a commit name (letters, digits, . _ + -, at most 40)`,
      );
      process.exit(2);
    }
    return given;
  }
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const commit = git.status === 0 ? git.stdout.trim() : '';
  return COMMIT.test(commit) ? commit : 'unknown';
}

/** esbuild's `define` that stamps it (protocol/version.ts declares IDV_BUILD_COMMIT). */
export function commitDefine(root) {
  return { IDV_BUILD_COMMIT: JSON.stringify(buildCommit(root)) };
}
