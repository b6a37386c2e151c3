/** The `idv-agent pam` flags a test passes to every call, each only where the command takes it. */
import { pamCommands } from '../../agent/pamconfig/commands.js';

/**
 * `args` (`['pam', 'status', ...]`) with each flag of `flags` that this pam command takes and
 * `args` does not already set; a flag the command does not take is left out (it would be refused).
 */
export function withPamFlags(args: string[], flags: [string, string | null][]): string[] {
  const takes = new Set(Object.keys(pamCommands[`${args[0]} ${args[1]}`]?.options ?? {}));
  const out = [...args];
  for (const [name, value] of flags)
    if (takes.has(name) && !args.includes(`--${name}`))
      out.push(`--${name}`, ...(value === null ? [] : [value]));
  return out;
}
