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
import { choose, type ProgramName } from './dispatch.js';

type Loader = () => Promise<unknown>;

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

const choice = choose(process.argv0, process.argv.slice(2));
if (choice.kind === 'usage') {
  (choice.exitCode === 0 ? process.stdout : process.stderr).write(choice.text);
  process.exitCode = choice.exitCode;
} else {
  // The programs read process.argv.slice(2): give them exactly their own arguments.
  process.argv.splice(2, process.argv.length - 2, ...choice.args);
  const start =
    choice.program === 'idv-pam-helper'
      ? () => import('../../pam-helper/main.js')
      : loadPrograms()[choice.program];
  start().catch((err: unknown) => {
    process.stderr.write(`idv: cannot start ${choice.program}: ${(err as Error)?.message}\n`);
    process.exitCode = 1;
  });
}
