/** idv-agent: argv → command table → run. */
import { dispatch, runProgram, type ProgramSpec } from '../protocol/cli.js';
import { IDV_VERSION } from '../protocol/version.js';
import { agentCommands, PATH_OPTIONS } from './commands.js';
import { doctorCommand } from './doctor.js';
import { pamCommands } from './pamconfig/commands.js';
import { AGENT_MANUAL } from './manual.js';

export const spec: ProgramSpec = {
  name: 'idv-agent',
  version: IDV_VERSION,
  globalOptions: PATH_OPTIONS,
  globalFlags: {
    'data-dir': {
      value: 'DIR',
      help: 'the agent data directory (or IDV_DATA_DIR; default /var/lib/idv)',
    },
    socket: {
      value: 'PATH',
      help: "the agent's socket (or IDV_SOCKET; default /run/idv/agent.sock)",
    },
  },
  commands: {
    ...agentCommands,
    ...doctorCommand,
    ...pamCommands,
  },
  manual: AGENT_MANUAL,
  epilog:
    '\nEnvironment: IDV_DATA_DIR (default /var/lib/idv), IDV_SOCKET (default /run/idv/agent.sock), IDV_LOG_LEVEL.\n',
};

process.exitCode = await runProgram(spec.name, process.argv.slice(2), (argv, io) =>
  dispatch(spec, argv, io),
);
