/**
 * Entry of the single executable (Node SEA), bundled to CommonJS by scripts/package.mjs.
 *
 * Start-up cost is what a login pays, so this bundle holds only the dispatch and the PAM
 * helper. The other programs are a second bundle stored as the SEA asset `programs.cjs` (with
 * V8 code cache `programs.cache` made at build time by the same node), compiled on demand.
 *
 * Each program main ends in `process.exitCode = await runProgram(...)` or the like; the package
 * build runs each main's body in an async function (CommonJS has no top-level await), so the
 * exit code semantics of ./bin/<name> and of the binary are the same.
 */
import { createRequire } from 'node:module';
import { getAsset } from 'node:sea';
import { Script } from 'node:vm';
import type { ProgramName } from './dispatch.js';
import { start, type Loader } from './start.js';

/** Compiles and runs the programs asset; its `require` resolves builtins and files beside the binary. */
function loadPrograms(): Record<Exclude<ProgramName, 'idv-pam-helper'>, Loader> {
  const code = getAsset('programs.cjs', 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = Buffer.from(getAsset('programs.cache'));
  } catch {
    cachedData = undefined; // the cache only saves time
  }
  const script = new Script(`(function (exports, require, module) {${code}\n})`, {
    filename: 'idv-programs.cjs',
    ...(cachedData ? { cachedData } : {}),
  });
  if (process.env.IDV_SEA_DEBUG === '1')
    process.stderr.write(
      `idv: programs code cache ${script.cachedDataRejected ? 'rejected' : 'used'}\n`,
    );
  const mod = { exports: {} as { programs?: Record<string, Loader> } };
  (script.runInThisContext() as (e: object, r: NodeJS.Require, m: object) => void)(
    mod.exports,
    createRequire(process.execPath),
    mod,
  );
  return mod.exports.programs as Record<Exclude<ProgramName, 'idv-pam-helper'>, Loader>;
}

start((program) =>
  program === 'idv-pam-helper' ? () => import('../../pam-helper/main.js') : loadPrograms()[program],
);
