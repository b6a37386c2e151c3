/**
 * Entry of the single executable (Node SEA). Bundled to CommonJS by scripts/package.mjs; each
 * program's main module is imported lazily, so a login (idv-pam-helper) evaluates only the
 * helper's code, never the server's.
 *
 * Each program main ends in `process.exitCode = await runProgram(...)`; the package build
 * rewrites that one statement to its promise form (CommonJS has no top-level await), so the exit
 * code semantics of ./bin/<name> and of the binary are the same.
 */
import { choose, type ProgramName } from './dispatch.js';

const load: Record<ProgramName, () => Promise<unknown>> = {
  'idv-server': () => import('../../server/main.js'),
  idvctl: () => import('../../server/ctl/main.js'),
  'idv-agent': () => import('../../agent/main.js'),
  'idv-pam-helper': () => import('../../pam-helper/main.js'),
};

const choice = choose(process.argv0, process.argv.slice(2));
if (choice.kind === 'usage') {
  (choice.exitCode === 0 ? process.stdout : process.stderr).write(choice.text);
  process.exitCode = choice.exitCode;
} else {
  // The programs read process.argv.slice(2): give them exactly their own arguments.
  process.argv.splice(2, process.argv.length - 2, ...choice.args);
  load[choice.program]().catch((err: unknown) => {
    process.stderr.write(`idv: cannot start ${choice.program}: ${(err as Error)?.message}\n`);
    process.exitCode = 1;
  });
}
