/** idv-agent: argv → command table → run. */
import { dispatch, runProgram, type ProgramSpec } from '../protocol/cli.js';
import { IDV_VERSION } from '../protocol/version.js';
import { pamCommands } from './pamconfig/commands.js';

export const spec: ProgramSpec = {
  name: 'idv-agent',
  version: IDV_VERSION,
  commands: {
    ...pamCommands,
  },
};

process.exitCode = await runProgram(spec.name, process.argv.slice(2), (argv, io) =>
  dispatch(spec, argv, io),
);
