/**
 * Help text rendered from a program's command table. The table is data (summaries, argument
 * names, each flag's placeholder and one line of help), so every level prints its own help, a
 * usage error shows one usage line, and man pages can later be generated from the same table.
 */
import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** What --help says about one flag. */
export interface FlagDoc {
  /** The value's placeholder (`G`, `DUR`, `required|off`); default: the name in capitals. */
  value?: string;
  /** One line: what it does, allowed values, default. */
  help?: string;
}

export interface CommandDoc {
  /** One line for the program's and the group's --help. */
  summary: string;
  /** Arguments after the command words (`NAME CODE`). */
  args?: string;
  options?: OptionSpec;
  flags?: Record<string, FlagDoc>;
}

export interface ProgramDoc {
  name: string;
  globalOptions?: OptionSpec;
  globalFlags?: Record<string, FlagDoc>;
  commands: Record<string, CommandDoc>;
  /** Text after the command list in --help (environment variables). */
  epilog?: string;
}

/** The flags every program takes. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  json: { type: 'boolean' },
} as const satisfies OptionSpec;

const COMMON_FLAGS: Record<string, FlagDoc> = {
  json: { help: 'print JSON; a failure as {"error": {"code", "message"}}' },
  help: { help: 'this help (-h); every command and group of commands takes it too' },
  version: {
    help: 'print the version, the commit it was built from and the Node.js version it runs on',
  },
};

const EXIT_CODES = 'Exit codes: 0 success, 1 refused or failed, 2 wrong usage.';

function flagText(name: string, option: OptionSpec[string], doc?: FlagDoc): string {
  if (option.type !== 'string') return `--${name}`;
  return `--${name} ${doc?.value ?? name.toUpperCase().replace(/-/g, '_')}`;
}

/** `idvctl user add NAME [--group G]... [--admin]`: the line a usage error shows. */
export function usageLine(program: string, key: string, command: CommandDoc): string {
  // Flags the arguments already name (`--server URL --token T`: required) are not repeated.
  const named = new Set(command.args?.match(/--[a-z-]+/g) ?? []);
  const flags = Object.entries(command.options ?? {})
    .filter(([name]) => !named.has(`--${name}`))
    .map(([name, o]) => `[${flagText(name, o, command.flags?.[name])}]${o.multiple ? '...' : ''}`);
  return [program, key, command.args ?? '', ...flags].filter(Boolean).join(' ');
}

function columns(rows: [string, string][]): string {
  const width = Math.min(32, Math.max(0, ...rows.map(([a]) => a.length)));
  return rows
    .map(([a, b]) =>
      b === ''
        ? `  ${a}`
        : a.length > width
          ? `  ${a}\n  ${' '.repeat(width)}  ${b}`
          : `  ${a.padEnd(width)}  ${b}`,
    )
    .join('\n');
}

function optionRows(options: OptionSpec, flags: Record<string, FlagDoc> = {}): [string, string][] {
  return Object.entries(options).map(([name, o]) => [
    flagText(name, o, flags[name]) + (o.multiple ? ' (repeatable)' : ''),
    flags[name]?.help ?? '',
  ]);
}

export function commandHelp(spec: ProgramDoc, key: string, command: CommandDoc): string {
  const options = Object.keys(command.options ?? {}).length
    ? `\n\nOptions:\n${columns(optionRows(command.options ?? {}, command.flags))}`
    : '';
  return `Usage: ${usageLine(spec.name, key, command)}\n\n${command.summary}${options}\n`;
}

/** Command words that start other commands but are none themselves (`user`, `device token`). */
export function groupsOf(spec: ProgramDoc): string[] {
  const groups = new Set<string>();
  for (const key of Object.keys(spec.commands)) {
    const words = key.split(' ');
    for (let n = 1; n < words.length; n++) groups.add(words.slice(0, n).join(' '));
  }
  return [...groups].filter((g) => !Object.hasOwn(spec.commands, g));
}

export function groupHelp(spec: ProgramDoc, group: string): string {
  const rows = Object.entries(spec.commands)
    .filter(([k]) => k.startsWith(`${group} `))
    .map(([k, c]): [string, string] => [`${k}${c.args ? ` ${c.args}` : ''}`, c.summary]);
  return `Usage: ${spec.name} ${group} <command> [arguments]\n\nCommands:\n${columns(rows)}\n\nEach command takes --help for its options. ${EXIT_CODES}\n`;
}

export function programHelp(spec: ProgramDoc): string {
  const rows = Object.entries(spec.commands).map(([k, c]): [string, string] => [
    `${k}${c.args ? ` ${c.args}` : ''}`,
    c.summary,
  ]);
  const globals = optionRows(
    { ...spec.globalOptions, ...COMMON_OPTIONS },
    { ...COMMON_FLAGS, ...spec.globalFlags },
  );
  return `Usage: ${spec.name} [options] <command> [arguments]\n\nCommands:\n${columns(rows)}\n\nOptions (before or after the command):\n${columns(globals)}\n\n${EXIT_CODES}\n${spec.epilog ?? ''}`;
}

/** Edit distance (insertions, deletions, substitutions), for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** The candidate the user most likely meant: a close spelling, or one the word begins. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best ?? (word.length >= 2 ? candidates.find((c) => c.startsWith(word)) : undefined);
}

/** ` (did you mean "x"?)`, or nothing. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean ${JSON.stringify(c)}?)`;
}
