/**
 * Command-line parsing shared by the four programs, over Node's util.parseArgs in strict mode
 * (unknown flags refused). Pure: the programs print and exit; exit code 2 means wrong usage.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { IdvError, type ErrorBody } from './errors.js';
import { endOnClosedOutput } from './io/stdout.js';

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses argv strictly; wrong usage becomes an IdvError('USAGE') with parseArgs' own reason. */
export function parseCommandLine(args: string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: joinValues(args, options),
      options,
      strict: true,
      allowPositionals: true,
      allowNegative: false,
    });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    throw new IdvError('USAGE', (err as Error).message.split('\n')[0]);
  }
}

/**
 * `--token -abc` → `--token=-abc`: a value option takes the next argument whatever it starts with
 * (as getopt does). parseArgs alone refuses a value starting with `-` as ambiguous, and random
 * tokens or names can start with one.
 */
function joinValues(args: string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const long = /^--([^=]+)$/.exec(arg)?.[1];
    const name =
      long ??
      (/^-[^-]$/.test(arg)
        ? Object.keys(options).find((k) => options[k]?.short === arg[1])
        : undefined);
    if (name !== undefined && options[name]?.type === 'string' && i + 1 < args.length) {
      out.push(`--${name}=${args[i + 1] as string}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** The flags every program takes. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  json: { type: 'boolean' },
} as const satisfies OptionSpec;

/** The text printed for a failure: JSON when asked, else `program: message`. */
export function formatError(program: string, body: ErrorBody, json: boolean): string {
  return json ? JSON.stringify({ error: body }) : `${program}: ${body.message}`;
}

/** Exit code for an error: USAGE → 2, everything else → 1. */
export function exitCodeFor(err: unknown): number {
  return err instanceof IdvError && err.code === 'USAGE' ? EXIT.USAGE : EXIT.FAILED;
}

/** A string flag's value, or undefined; refuses a flag given twice as a list. */
export function stringFlag(values: Parsed['values'], name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new IdvError('USAGE', `--${name} needs a value`);
  return v;
}

/** A positive integer flag. */
export function intFlag(
  values: Parsed['values'],
  name: string,
  min = 0,
  max = 1e9,
): number | undefined {
  const v = stringFlag(values, name);
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new IdvError('USAGE', `--${name} must be a whole number from ${min} to ${max}`);
  }
  return Number(v);
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

/**
 * Runs a program's main function: prints an IdvError as text or JSON (when --json is anywhere in
 * argv), and resolves to the exit code. Unexpected errors are INTERNAL and never print a stack
 * that could carry input.
 */
export async function runProgram(
  program: string,
  argv: string[],
  main: (argv: string[], io: Io) => Promise<number>,
  io: Io = processIo,
): Promise<number> {
  if (io === processIo) endOnClosedOutput(EXIT.OK);
  try {
    return await main(argv, io);
  } catch (err) {
    const json = argv.includes('--json');
    const body =
      err instanceof IdvError
        ? err.toBody()
        : { code: 'INTERNAL' as const, message: 'internal error' };
    if (!(err instanceof IdvError))
      io.err(`${program}: internal error: ${(err as Error)?.name ?? 'unknown'}`);
    (json ? io.out : io.err)(formatError(program, body, json));
    return exitCodeFor(err);
  }
}

/** `--help` / `--version` handling shared by every program and subcommand. */
export function helpOrVersion(
  values: Parsed['values'],
  io: Io,
  usage: string,
  version: string,
): boolean {
  if (values.help) {
    io.out(usage);
    return true;
  }
  if (values.version) {
    io.out(version);
    return true;
  }
  return false;
}

export interface Command {
  /** One line for the program's --help. */
  summary: string;
  /** Arguments after the command words, for the command's --help (`NAME [--group G]...`). */
  args?: string;
  options?: OptionSpec;
  /** Exact number of positionals, or [min, max]. */
  positionals?: number | [number, number];
  run: (parsed: Parsed, io: Io) => Promise<number>;
}

export interface ProgramSpec {
  name: string;
  version: string;
  /** Options accepted before the command and after it (`idvctl --json user list`). */
  globalOptions?: OptionSpec;
  /** Keys are command words: `serve`, `user add`. */
  commands: Record<string, Command>;
  /** Text after the command list in --help (environment variables, exit codes). */
  epilog?: string;
}

export function programUsage(spec: ProgramSpec): string {
  const width = Math.max(...Object.keys(spec.commands).map((k) => k.length));
  const lines = Object.entries(spec.commands).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`);
  return `Usage: ${spec.name} [options] <command> [arguments]\n\nCommands:\n${lines.join('\n')}\n\nEvery command takes --help. Exit codes: 0 success, 1 refused or failed, 2 wrong usage.\n${spec.epilog ?? ''}`;
}

function commandUsage(spec: ProgramSpec, key: string, command: Command): string {
  const flags = Object.entries(command.options ?? {}).map(([name, o]) => {
    const value = o.type === 'string' ? ` ${name.toUpperCase().replace(/-/g, '_')}` : '';
    return `[--${name}${value}]${o.multiple ? '...' : ''}`;
  });
  return `Usage: ${spec.name} ${key} ${[command.args ?? '', ...flags].filter(Boolean).join(' ')}\n\n${command.summary}\n`;
}

/**
 * Runs argv against a program's command table: leading global options, then the longest
 * matching command words, then the command's own options (strict). Wrong usage throws USAGE.
 */
export async function dispatch(spec: ProgramSpec, argv: string[], io: Io): Promise<number> {
  const globals: OptionSpec = { ...COMMON_OPTIONS, ...spec.globalOptions };
  // The part before the first positional holds only global options.
  let i = 0;
  while (i < argv.length && (argv[i] as string).startsWith('-')) {
    const flag = (argv[i] as string).replace(/^--?/, '').split('=')[0] as string;
    const o = globals[flag] ?? Object.values(globals).find((g) => g.short === flag);
    if (!o) throw new IdvError('USAGE', `unknown option ${JSON.stringify(argv[i])}`);
    i += o.type === 'string' && !(argv[i] as string).includes('=') ? 2 : 1;
  }
  const lead = parseCommandLine(argv.slice(0, i), globals);
  const rest = argv.slice(i);
  // The longest match of up to three command words (`device token create`).
  const words = rest.slice(0, 3);
  const key = [3, 2, 1]
    .map((n) => words.slice(0, n).join(' '))
    .find((k) => k && Object.hasOwn(spec.commands, k));
  if (!key) {
    if (helpOrVersion(lead.values, io, programUsage(spec), spec.version)) return EXIT.OK;
    throw new IdvError(
      'USAGE',
      rest.length
        ? `unknown command ${JSON.stringify(words.join(' '))} (see --help)`
        : 'a command is required (see --help)',
    );
  }
  const command = spec.commands[key] as Command;
  const parsed = parseCommandLine(rest.slice(key.split(' ').length), {
    ...globals,
    ...command.options,
  });
  const values = { ...lead.values, ...parsed.values };
  if (helpOrVersion(values, io, commandUsage(spec, key, command), spec.version)) return EXIT.OK;
  const want = command.positionals ?? 0;
  const [min, max] = typeof want === 'number' ? [want, want] : want;
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    throw new IdvError(
      'USAGE',
      `wrong number of arguments for "${key}"; usage: ${commandUsage(spec, key, command).split('\n')[0]}`,
    );
  }
  return command.run({ values, positionals: parsed.positionals }, io);
}
