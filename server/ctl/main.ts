/** idvctl: every admin action over the idv-server HTTP API. */
import { dispatch, runProgram, type ProgramSpec } from '../../protocol/cli.js';
import { IDV_VERSION } from '../../protocol/version.js';

export const spec: ProgramSpec = {
  name: 'idvctl',
  version: IDV_VERSION,
  globalOptions: {
    server: { type: 'string' },
    token: { type: 'string' },
  },
  commands: {},
  epilog: '\nEnvironment: IDV_SERVER (server URL), IDV_TOKEN (admin token).\n',
};

process.exitCode = await runProgram(spec.name, process.argv.slice(2), (argv, io) =>
  dispatch(spec, argv, io),
);
