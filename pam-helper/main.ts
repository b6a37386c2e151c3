/**
 * idv-pam-helper: run by pam_exec at each login. Exits 0 only on an explicit yes from the agent.
 * Kept tiny: it imports no OTP library, no database and no schema library.
 */
import {
  COMMON_OPTIONS,
  EXIT,
  helpOrVersion,
  parseCommandLine,
  runProgram,
  type Io,
} from '../protocol/cli.js';
import { IdvError } from '../protocol/errors.js';
import { IDV_VERSION } from '../protocol/version.js';

const USAGE = `Usage: idv-pam-helper [--socket PATH] [--authtok] [--fail-mode secure|safe] [--timeout SECONDS]

Run by pam_exec (auth). Asks idv-agent whether this login needs a code, collects it and exits 0
only when the agent says yes.
`;

const OPTIONS = {
  ...COMMON_OPTIONS,
  socket: { type: 'string' },
  authtok: { type: 'boolean' },
  'fail-mode': { type: 'string' },
  timeout: { type: 'string' },
} as const;

async function main(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (helpOrVersion(values, io, USAGE, IDV_VERSION)) return EXIT.OK;
  if (positionals.length)
    throw new IdvError('USAGE', `unexpected argument ${JSON.stringify(positionals[0])}`);
  // The login flow arrives with the helper issue; until then nothing is ever allowed.
  io.out('Verification service unavailable');
  return EXIT.FAILED;
}

process.exitCode = await runProgram('idv-pam-helper', process.argv.slice(2), main);
