/** Runs the program the invocation names, given a loader per program (shared by both entries). */
import { choose, type ProgramName } from './dispatch.js';

export type Loader = () => Promise<unknown>;

export function start(load: (program: ProgramName) => Loader): void {
  const choice = choose(process.argv0, process.argv.slice(2));
  if (choice.kind === 'usage') {
    (choice.exitCode === 0 ? process.stdout : process.stderr).write(choice.text);
    process.exitCode = choice.exitCode;
    return;
  }
  // The programs read process.argv.slice(2): give them exactly their own arguments.
  process.argv.splice(2, process.argv.length - 2, ...choice.args);
  load(choice.program)().catch((err: unknown) => {
    process.stderr.write(`idv: cannot start ${choice.program}: ${(err as Error)?.message}\n`);
    process.exitCode = 1;
  });
}
