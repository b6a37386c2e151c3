/**
 * Picks the program a multi-call binary runs. Pure (no I/O) so a unit test can pin the rules.
 *
 * The binary `idv` is one Node runtime carrying four programs. Started under a link name
 * (`/usr/bin/idv-agent` → `idv`), the link name chooses; started as `idv` itself, the first
 * argument does (`idv idv-agent status`), so the programs also work where links cannot be made.
 */
export const PROGRAM_NAMES = ['idv-server', 'idvctl', 'idv-agent', 'idv-pam-helper'] as const;
export type ProgramName = (typeof PROGRAM_NAMES)[number];

export type Choice =
  | { kind: 'program'; program: ProgramName; args: string[] }
  | { kind: 'usage'; exitCode: 0 | 2; text: string };

export const MULTICALL_USAGE = `Usage: idv <program> [arguments]   (or start it through a link named after the program)

Programs: ${PROGRAM_NAMES.join(', ')}
`;

function isProgram(name: string): name is ProgramName {
  return (PROGRAM_NAMES as readonly string[]).includes(name);
}

/** The last path segment, without the `.exe` a Windows-style link might add. */
function baseName(path: string): string {
  const last = path.split('/').pop() ?? '';
  return last.replace(/\.exe$/i, '');
}

/**
 * @param argv0 the name the process was started under (process.argv0)
 * @param args the arguments after the executable (process.argv.slice(2))
 */
export function choose(argv0: string, args: readonly string[]): Choice {
  const invoked = baseName(argv0);
  if (isProgram(invoked)) return { kind: 'program', program: invoked, args: [...args] };
  const [first, ...rest] = args;
  if (first !== undefined && isProgram(first))
    return { kind: 'program', program: first, args: rest };
  if (first === '--help' || first === '-h')
    return { kind: 'usage', exitCode: 0, text: MULTICALL_USAGE };
  const why =
    first === undefined ? 'a program name is required' : `unknown program ${JSON.stringify(first)}`;
  return { kind: 'usage', exitCode: 2, text: `idv: ${why}\n${MULTICALL_USAGE}` };
}
