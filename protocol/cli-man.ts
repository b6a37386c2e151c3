/**
 * Manual pages and bash completion rendered from a program's command table, the same data that
 * --help prints (protocol/cli-help.ts), so the three cannot drift. The programs print them on the
 * hidden flags `--manpage` and `--completion-bash`; the build writes them to dist/man and
 * dist/completion, and the .deb packages install them.
 */
import { COMMON_OPTIONS, type OptionSpec, type ProgramDoc, usageLine } from './cli-help.js';

/** What a manual adds to --help: prose, files, examples. */
export interface ManualDoc {
  section: 1 | 8;
  /** The NAME line's description ("manage idv users, devices and policy"). */
  purpose: string;
  /** DESCRIPTION paragraphs. */
  description: string[];
  environment?: [string, string][];
  files?: [string, string][];
  examples?: [string, string][];
  seeAlso: string[];
}

/** Escapes text for roff: backslashes, leading dots and apostrophes, hyphens in flags. */
export function roffText(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

function flagName(name: string, o: OptionSpec[string], value?: string): string {
  const words = `\\fB\\-\\-${roffText(name)}\\fR`;
  if (o.type !== 'string') return words;
  return `${words} \\fI${roffText(value ?? name.toUpperCase().replace(/-/g, '_'))}\\fR`;
}

function optionItems(options: OptionSpec, flags: ProgramDoc['globalFlags'] = {}): string[] {
  return Object.entries(options).flatMap(([name, o]) => [
    '.TP',
    flagName(name, o, flags[name]?.value) + (o.multiple ? ' (repeatable)' : ''),
    roffText(flags[name]?.help ?? ''),
  ]);
}

const COMMON_HELP: Record<string, string> = {
  json: 'print JSON; a failure as {"error": {"code", "message"}}',
  help: 'print help; every command and group of commands takes it too (\\-h)',
  version: 'print the version, the commit it was built from and the Node.js version it runs on',
};

export function renderManPage(spec: ProgramDoc, manual: ManualDoc, version: string): string {
  const out: string[] = [
    `.TH ${spec.name.toUpperCase()} ${manual.section} "" "idv ${version}" "idv"`,
    '.SH NAME',
    `${roffText(spec.name)} \\- ${roffText(manual.purpose)}`,
    '.SH SYNOPSIS',
    `.B ${roffText(spec.name)}`,
    '[\\fIoptions\\fR] \\fIcommand\\fR [\\fIarguments\\fR]',
    '.SH DESCRIPTION',
    ...manual.description.flatMap((p, i) => (i ? ['.PP', roffText(p)] : [roffText(p)])),
    '.SH COMMANDS',
  ];
  for (const [key, command] of Object.entries(spec.commands)) {
    out.push('.TP', `\\fB${roffText(usageLine(spec.name, key, command))}\\fR`);
    out.push(roffText(command.summary));
    if (Object.keys(command.options ?? {}).length) {
      out.push('.RS', ...optionItems(command.options ?? {}, command.flags), '.RE');
    }
  }
  out.push('.SH OPTIONS', 'These go before or after the command.');
  out.push(...optionItems(spec.globalOptions ?? {}, spec.globalFlags));
  for (const [name, o] of Object.entries(COMMON_OPTIONS)) {
    out.push('.TP', flagName(name, o), COMMON_HELP[name] as string);
  }
  if (manual.environment?.length) {
    out.push('.SH ENVIRONMENT');
    for (const [n, d] of manual.environment) out.push('.TP', `\\fB${roffText(n)}\\fR`, roffText(d));
  }
  out.push(
    '.SH EXIT STATUS',
    '0 success, 1 refused or failed (the message, or with \\-\\-json the error code, says why), 2 wrong usage.',
  );
  if (manual.files?.length) {
    out.push('.SH FILES');
    for (const [n, d] of manual.files) out.push('.TP', `\\fI${roffText(n)}\\fR`, roffText(d));
  }
  if (manual.examples?.length) {
    out.push('.SH EXAMPLES');
    for (const [what, cmd] of manual.examples) {
      out.push('.PP', roffText(what), '.PP', '.RS', '.nf', roffText(cmd), '.fi', '.RE');
    }
  }
  out.push('.SH SEE ALSO', manual.seeAlso.map((s) => `\\fB${roffText(s)}\\fR`).join(', '));
  return `${out.join('\n')}\n`;
}

/**
 * A bash completion function: command words level by level, then the command's flags and the
 * global ones. Values are not completed, except file names after a flag whose value is a FILE,
 * PATH or DIR.
 */
export function renderBashCompletion(spec: ProgramDoc): string {
  const fn = `_${spec.name.replace(/[^A-Za-z0-9]/g, '_')}`;
  const globals = { ...spec.globalOptions, ...COMMON_OPTIONS };
  const flagWords = (o: OptionSpec) => Object.keys(o).map((n) => `--${n}`);
  const fileFlags = new Set<string>();
  const valued = new Set<string>();
  const note = (options: OptionSpec, flags: ProgramDoc['globalFlags'] = {}) => {
    for (const [n, o] of Object.entries(options)) {
      if (o.type !== 'string') continue;
      valued.add(`--${n}`);
      const file =
        /FILE|PATH|DIR/.test(flags[n]?.value ?? '') || /(^|-)(file|dir|ca|cert|key)$/.test(n);
      if (file) fileFlags.add(`--${n}`);
    }
  };
  note(globals, spec.globalFlags);
  const cases: string[] = [];
  // Next words after a prefix of command words.
  const next = new Map<string, Set<string>>();
  for (const key of Object.keys(spec.commands)) {
    const words = key.split(' ');
    for (let n = 0; n < words.length; n++) {
      const prefix = words.slice(0, n).join(' ');
      const set = next.get(prefix) ?? new Set<string>();
      set.add(words[n] as string);
      next.set(prefix, set);
    }
  }
  for (const [prefix, set] of next) {
    const own = spec.commands[prefix];
    const flags = own ? flagWords(own.options ?? {}) : [];
    cases.push(`    "${prefix}") words="${[...set].join(' ')} ${flags.join(' ')}" ;;`);
  }
  for (const [key, command] of Object.entries(spec.commands)) {
    note(command.options ?? {}, command.flags);
    if (next.has(key)) continue;
    cases.push(`    "${key}") words="${flagWords(command.options ?? {}).join(' ')}" ;;`);
  }
  return `# bash completion for ${spec.name} (generated from its command table; do not edit)
${fn}() {
  local cur prev words path="" i w
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    ${[...fileFlags].join('|') || '--no-such-flag'}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    ${[...valued].join('|') || '--no-such-flag'}) COMPREPLY=(); return ;;
  esac
  # The command words typed so far (flags, their values and arguments skipped).
  local known=":${[...new Set([...next.keys(), ...Object.keys(spec.commands)])].filter(Boolean).join(':')}:"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      -*) case " ${[...valued].join(' ')} " in *" $w "*) ((i++)) ;; esac ;;
      *) case "$known" in *":\${path:+$path }$w:"*) path="\${path:+$path }$w" ;; esac ;;
    esac
  done
  case "$path" in
${cases.join('\n')}
    *) words="" ;;
  esac
  [[ $cur == -* ]] && words="$words ${flagWords(globals).join(' ')}"
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F ${fn} ${spec.name}
`;
}
