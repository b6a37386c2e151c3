/**
 * Command-line parsing shared by the four programs, over Node's util.parseArgs in strict mode
 * (unknown flags refused). Pure: the programs print and exit; exit code 2 means wrong usage.
 */
import { parseArgs } from 'node:util';
import {
  COMMON_OPTIONS,
  commandHelp,
  didYouMean,
  groupHelp,
  groupsOf,
  programHelp,
  usageLine,
  type CommandDoc,
  type FlagDoc,
  type OptionSpec,
  type ProgramDoc,
} from './cli-help.js';
import { renderBashCompletion, renderManPage, type ManualDoc } from './cli-man.js';
import { IdvError, type ErrorBody } from './errors.js';
import { endOnClosedOutput } from './io/stdout.js';
import { versionLine } from './version.js';

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

export type { OptionSpec };

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Parses argv strictly. Wrong usage becomes an IdvError('USAGE') in our words, never parseArgs'
 * own text: an unknown flag is named with the closest known one, a missing value said plainly.
 */
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
    throw new IdvError('USAGE', parseArgsReason(err as NodeJS.ErrnoException, options));
  }
}

function parseArgsReason(err: NodeJS.ErrnoException, options: OptionSpec): string {
  const flag = /'(-[^' ]*)/.exec(err.message)?.[1] ?? '';
  const name = flag.replace(/^--?/, '');
  const long =
    name.length === 1 ? Object.keys(options).find((k) => options[k]?.short === name) : name;
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    return `unknown option ${JSON.stringify(flag)}${didYouMean(
      flag,
      Object.keys(options).map((k) => `--${k}`),
    )}`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && long !== undefined) {
    return options[long]?.type === 'string'
      ? `--${long} needs a value`
      : `--${long} takes no value`;
  }
  return 'wrong usage';
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

export { COMMON_OPTIONS };

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

/** An id flag (a device id): a UUID, checked here rather than after a round trip. */
export function uuidFlag(values: Parsed['values'], name: string): string | undefined {
  const v = stringFlag(values, name);
  if (v === undefined) return undefined;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v))
    throw new IdvError('USAGE', `--${name} must be a device id (a UUID, as device list shows)`);
  return v;
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

export type { FlagDoc };

export interface Command extends CommandDoc {
  /** Exact number of positionals, or [min, max]. */
  positionals?: number | [number, number];
  run: (parsed: Parsed, io: Io) => Promise<number>;
}

export interface ProgramSpec extends ProgramDoc {
  version: string;
  /** The manual page's prose (`--manpage` renders it with the command table). */
  manual?: ManualDoc;
  /** Keys are command words: `serve`, `user add`. */
  commands: Record<string, Command>;
}

export const programUsage = programHelp;

/** A usage error that ends with the one usage line of the command (or group) it is about. */
function usageError(reason: string, usage: string): IdvError {
  return new IdvError('USAGE', `${reason}\nusage: ${usage}`);
}

function wantsHelp(args: string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/**
 * Runs argv against a program's command table: leading global options, then the longest
 * matching command words, then the command's own options (strict). A group of commands
 * (`idvctl user`) prints its own help; wrong usage throws USAGE with a "did you mean".
 */
export async function dispatch(spec: ProgramSpec, argv: string[], io: Io): Promise<number> {
  // Hidden: what the build writes to dist/man and dist/completion (protocol/cli-man.ts).
  if (argv.length === 1 && argv[0] === '--manpage' && spec.manual) {
    io.out(renderManPage(spec, spec.manual, spec.version));
    return EXIT.OK;
  }
  if (argv.length === 1 && argv[0] === '--completion-bash') {
    io.out(renderBashCompletion(spec));
    return EXIT.OK;
  }
  const globals: OptionSpec = { ...COMMON_OPTIONS, ...spec.globalOptions };
  // The part before the first positional holds only global options.
  let i = 0;
  while (i < argv.length && (argv[i] as string).startsWith('-')) {
    const flag = (argv[i] as string).replace(/^--?/, '').split('=')[0] as string;
    const o = globals[flag] ?? Object.values(globals).find((g) => g.short === flag);
    if (!o) {
      const known = Object.keys(globals).map((k) => `--${k}`);
      throw usageError(
        `unknown option ${JSON.stringify(argv[i])}${didYouMean(argv[i] as string, known)}`,
        `${spec.name} [options] <command> [arguments] (see --help)`,
      );
    }
    i += o.type === 'string' && !(argv[i] as string).includes('=') ? 2 : 1;
  }
  const lead = parseCommandLine(argv.slice(0, i), globals);
  const rest = argv.slice(i);
  // Command words are the leading arguments that are not flags; the longest match wins.
  const words: string[] = [];
  for (const a of rest.slice(0, 3)) {
    if (a.startsWith('-')) break;
    words.push(a);
  }
  const key = [3, 2, 1]
    .map((n) => words.slice(0, n).join(' '))
    .find((k) => k && words.length >= k.split(' ').length && Object.hasOwn(spec.commands, k));
  if (!key) {
    const groups = groupsOf(spec);
    const group = [2, 1]
      .map((n) => words.slice(0, n).join(' '))
      .find((g) => g && groups.includes(g) && words.length >= g.split(' ').length);
    if (group !== undefined && words.length === group.split(' ').length) {
      // `idvctl user`, `idvctl user --help`: that level's help.
      if (lead.values.help || wantsHelp(rest)) {
        io.out(groupHelp(spec, group));
        return EXIT.OK;
      }
      if (lead.values.json)
        throw usageError(`${group} needs a command`, `${spec.name} ${group} <command>`);
      io.err(groupHelp(spec, group));
      return EXIT.USAGE;
    }
    if (words.length === 0) {
      if (helpOrVersion(lead.values, io, programHelp(spec), versionLine(spec.name))) return EXIT.OK;
      if (wantsHelp(rest)) {
        io.out(programHelp(spec));
        return EXIT.OK;
      }
      if (rest.length)
        throw usageError(
          `unknown option ${JSON.stringify(rest[0])}`,
          `${spec.name} [options] <command> [arguments] (see --help)`,
        );
      throw usageError(
        'a command is required',
        `${spec.name} [options] <command> [arguments] (see --help)`,
      );
    }
    // Name what was not understood: the group and the next word, or the first word.
    const typed = words.slice(0, group === undefined ? 1 : group.split(' ').length + 1);
    const known = [...Object.keys(spec.commands), ...groups];
    let suggestion = '';
    for (let n = Math.min(words.length, 3); n >= 1 && !suggestion; n--) {
      const same = known.filter((k) => k.split(' ').length === n);
      suggestion = didYouMean(words.slice(0, n).join(' '), same);
    }
    throw usageError(
      `unknown command ${JSON.stringify(typed.join(' '))}${suggestion}`,
      group === undefined
        ? `${spec.name} <command> [arguments] (see --help)`
        : `${spec.name} ${group} <command> [arguments] (see ${spec.name} ${group} --help)`,
    );
  }
  const command = spec.commands[key] as Command;
  const usage = usageLine(spec.name, key, command);
  let parsed: Parsed;
  try {
    parsed = parseCommandLine(rest.slice(key.split(' ').length), {
      ...globals,
      ...command.options,
    });
  } catch (err) {
    if (wantsHelp(rest)) {
      io.out(commandHelp(spec, key, command));
      return EXIT.OK;
    }
    throw err instanceof IdvError ? usageError(err.message, usage) : err;
  }
  const values = { ...lead.values, ...parsed.values };
  if (helpOrVersion(values, io, commandHelp(spec, key, command), versionLine(spec.name)))
    return EXIT.OK;
  const want = command.positionals ?? 0;
  const [min, max] = typeof want === 'number' ? [want, want] : want;
  const n = parsed.positionals.length;
  if (n < min || n > max) {
    const reason =
      n > max
        ? `unexpected argument ${JSON.stringify(parsed.positionals[max])}`
        : `${key} needs ${command.args ?? `${min} argument(s)`}`;
    throw usageError(reason, usage);
  }
  try {
    return await command.run({ values, positionals: parsed.positionals }, io);
  } catch (err) {
    // A value refused locally (a duration, a number, an enum) is shown with the usage line.
    if (err instanceof IdvError && err.code === 'USAGE' && !err.message.includes('\nusage: '))
      throw usageError(err.message, usage);
    throw err;
  }
}
