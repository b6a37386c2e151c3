/**
 * Where the idv line goes in a PAM service file, and the edits `idv-agent pam enable|disable`
 * make. Pure: file text in, new text (or a refusal with the reason) out.
 *
 * Two hooks ask for the code: `exec` (pam_exec runs idv-pam-helper) and `module` (pam_idv.so,
 * which runs inside the application and asks through the PAM conversation).
 *
 * Placement rules, from how Linux-PAM runs a stack:
 * - The code after the password (sudo, su, login; sshd password + code): the line goes right
 *   after the password step (`@include common-auth`, `auth include|substack system-auth`, or the
 *   `pam_unix.so` auth line) — unless that step can end the stack early on success
 *   (`sufficient`, `success=done` in an included file), which would skip the code: then it goes
 *   right before it (the code is asked first; a wrong code still fails the login).
 * - sshd public key + code: the block takes the place of the password step, which it keeps as a
 *   comment (`#idv-replaced: ...`) and `pam disable` puts back; sshd checks the key before PAM
 *   runs (AuthenticationMethods publickey,keyboard-interactive).
 * - After a password step run as a `substack` (RHEL), a failed password does not end the stack:
 *   a substack's die ends only the substack, and no PAM control can test the stack's result. The
 *   block then starts with the password gate (`auth substack idv-password-gate`, gateFile()),
 *   which marks a failed password so that the code line refuses before anything is asked.
 * - sshd password + code needs the module: pam_exec can only take the one auth token Linux-PAM
 *   keeps per login, which pam_unix has already used for the password (docs/pam.md).
 * Anything else is an unknown layout: refused, with the lines to add by hand.
 */
import { canShortCircuit, parseLine, parseStack, renderStack, type PamLine } from './stack.js';

export const MARK_BEGIN = '# idv (managed by idv-agent pam)';
export const MARK_END = '# end idv';
/**
 * The markers idv wrote when every block ran idv-pam-helper: still found (status calls such a
 * block outdated), rewritten by the next `pam enable`, removed by `pam disable`.
 */
const LEGACY_BEGIN = '# idv-pam-helper (managed by idv-agent pam)';
const LEGACY_END = '# end idv-pam-helper';

export const TERMINAL_SERVICES = ['sudo', 'sudo-i', 'su', 'su-l', 'login'] as const;
export const SSHD_SERVICES = ['sshd'] as const;
export const DEFAULT_SERVICES = ['sshd', 'sudo', 'su', 'login'] as const;

/** Shown by pam_echo before pam_exec's fixed "Password: " prompt (it cannot be changed). */
export const SSHD_INSTRUCTION =
  'Enter the verification code from your authenticator app at the next prompt.';

/** The password gate's PAM service file, written beside the services that run it. */
export const GATE_SERVICE = 'idv-password-gate';
export const GATE_LINE = `auth substack ${GATE_SERVICE}`;
const GATE_HEADER = '# idv password gate (managed by idv-agent pam)';

/**
 * The gate file: run as a substack right after the password step, it reaches its last line only
 * when the stack's result so far is a failure (`done` on a success ends the substack), and there
 * pam_idv.so leaves a mark in the PAM environment; the idv line after it (pam_idv.so, or the
 * helper's launcher) then refuses without asking for the code. `clear` first: sudo asks again
 * on the same PAM handle after a wrong password.
 */
export function gateFile(module: string): string {
  return [
    '#%PAM-1.0',
    GATE_HEADER,
    '# Run by the idv lines as "auth substack idv-password-gate" right after a password step that',
    '# is itself a substack (see docs/pam.md): a failed password marks the login, and the code is',
    '# then never asked (a wrong password must not let a stranger count failed codes).',
    `auth optional ${module} password_failed=clear`,
    'auth [success=done default=ignore] pam_permit.so',
    `auth optional ${module} password_failed=set`,
    '',
  ].join('\n');
}

/** True when the text is a gate file idv wrote (any module path), so it may be replaced. */
export function isGateFile(text: string): boolean {
  return text.split('\n')[1] === GATE_HEADER;
}

/** Keeps the line the sshd block replaces, so that `pam disable` can put it back verbatim. */
export const REPLACED_PREFIX = '#idv-replaced: ';

/** How PAM reaches idv: pam_exec + idv-pam-helper, or the native module pam_idv.so. */
export type Hook = 'exec' | 'module';
export const HOOKS: readonly Hook[] = ['exec', 'module'];
/** What sshd checks before the code: the user's key (sshd itself) or the password (pam_unix). */
export type SshFirst = 'publickey' | 'password';
export const SSH_FIRST: readonly SshFirst[] = ['publickey', 'password'];

export interface LineOptions {
  hook: Hook;
  /** Absolute path of idv-pam-helper (pam_exec runs without PATH); the exec hook. */
  helper: string;
  /** pam_idv.so as the line names it: a bare name (system module folder) or an absolute path. */
  module: string;
  socket: string;
  /** Accounts never asked for the code, even with the agent down; undefined keeps what is there. */
  breakGlass?: string[] | undefined;
  /** sshd only; undefined keeps what the block has (publickey for a new block). */
  ssh?: SshFirst | undefined;
}

export type Mode = 'terminal' | 'sshd';

export function modeFor(service: string): Mode | null {
  if ((TERMINAL_SERVICES as readonly string[]).includes(service)) return 'terminal';
  if ((SSHD_SERVICES as readonly string[]).includes(service)) return 'sshd';
  return null;
}

/** The code replaces the password step (sshd key + code) or follows it (everything else). */
function replacesPassword(mode: Mode, ssh: SshFirst): boolean {
  return mode === 'sshd' && ssh === 'publickey';
}

/** Why this combination cannot be wired, or null. */
export function unsupported(mode: Mode, hook: Hook, ssh: SshFirst): string | null {
  if (mode === 'sshd' && ssh === 'password' && hook === 'exec')
    return 'sshd password + code needs the module (pam_idv.so): pam_exec gets the one auth token PAM keeps per login, which pam_unix has already used for the password; use --hook module, or --ssh publickey';
  return null;
}

/**
 * The managed block for a service, markers included: the same lines as the snippets in
 * packaging/pam/ (requisite: a refused code ends the login at once; seteuid: the helper runs as
 * root under sudo and su, like the program itself).
 */
export function managedBlock(
  mode: Mode,
  o: LineOptions,
  replaced?: string,
  breakGlass: readonly string[] = o.breakGlass ?? [],
  ssh: SshFirst = o.ssh ?? 'publickey',
  gate = false,
): string[] {
  // Break-glass accounts skip the idv lines (echo and helper: 2; helper or module: 1) even when
  // the agent is down; pam_succeed_if runs no program and needs no network.
  const skip = (n: number): string[] =>
    breakGlass.length
      ? [
          `auth [success=${n} default=ignore] pam_succeed_if.so quiet user in ${breakGlass.join(':')}`,
        ]
      : [];
  const kept = replaced === undefined ? [] : [`${REPLACED_PREFIX}${replaced.replace(/\s+$/, '')}`];
  let lines: string[];
  if (o.hook === 'module')
    lines = [
      ...kept,
      ...skip(1),
      `auth requisite ${o.module} socket=${o.socket}`,
      // pam_idv.so answers pam_setcred itself, but a break-glass jump over it in a stack with no
      // password step leaves no module that said yes: PAM refuses such a stack.
      ...(replacesPassword(mode, ssh) && breakGlass.length ? ['auth optional pam_permit.so'] : []),
    ];
  else if (replacesPassword(mode, ssh))
    lines = [
      ...kept,
      ...skip(2),
      `auth optional pam_echo.so ${SSHD_INSTRUCTION}`,
      `auth requisite pam_exec.so quiet stdout expose_authtok ${o.helper} --authtok --socket ${o.socket}`,
      // pam_exec does nothing at setcred time; without a module that does, sshd's
      // pam_setcred fails after a good code.
      'auth optional pam_permit.so',
    ];
  else
    lines = [
      ...skip(1),
      `auth requisite pam_exec.so quiet stdout seteuid ${o.helper} --socket ${o.socket}`,
    ];
  return [MARK_BEGIN, ...(gate ? [GATE_LINE] : []), ...lines, MARK_END];
}

/**
 * The stock modules the block needs (pam_idv.so itself is checked apart); enabling refuses when
 * one is missing (the stack would break).
 */
export function modulesFor(mode: Mode, hook: Hook, ssh: SshFirst, breakGlass = false): string[] {
  const exec = replacesPassword(mode, ssh)
    ? ['pam_echo.so', 'pam_exec.so', 'pam_permit.so']
    : ['pam_exec.so'];
  const module = replacesPassword(mode, ssh) && breakGlass ? ['pam_permit.so'] : [];
  return [...(hook === 'exec' ? exec : module), ...(breakGlass ? ['pam_succeed_if.so'] : [])];
}

/** What an existing block says: its hook, what sshd checks first, its break-glass accounts. */
export interface BlockFacts {
  hook: Hook;
  ssh: SshFirst;
  breakGlass: string[];
}

export function factsOf(block: Block): BlockFacts | null {
  if (block.state !== 'present') return null;
  let breakGlass: string[] = [];
  for (const l of block.lines) {
    const m = /pam_succeed_if\.so quiet user in (\S+)$/.exec(l);
    if (m) breakGlass = (m[1] as string).split(':');
  }
  return {
    hook: block.lines.some((l) => /^auth\s.*\bpam_exec\.so\b/.test(l)) ? 'exec' : 'module',
    ssh: block.lines.some((l) => l.startsWith(REPLACED_PREFIX)) ? 'publickey' : 'password',
    breakGlass,
  };
}

export const PASSWORD_FILES = ['common-auth', 'system-auth', 'password-auth'];

interface Anchor {
  index: number;
  line: PamLine;
  /** The file whose rules run at this point (for include/@include/substack anchors). */
  file: string | null;
  substack: boolean;
}

function findAnchor(lines: PamLine[]): Anchor | null {
  for (const [index, line] of lines.entries()) {
    if (line.kind === 'include' && PASSWORD_FILES.includes(line.target))
      return { index, line, file: line.target, substack: false };
    if (line.kind !== 'rule' || line.type !== 'auth') continue;
    if (
      (line.control === 'include' || line.control === 'substack') &&
      PASSWORD_FILES.includes(line.module)
    )
      return { index, line, file: line.module, substack: line.control === 'substack' };
    if (/(^|\/)pam_unix\.so$/.test(line.module))
      return { index, line, file: null, substack: false };
  }
  return null;
}

/** True when the file runs a password step of its own (where the code's line would go). */
export function hasPasswordStep(text: string): boolean {
  return findAnchor(parseStack(text)) !== null;
}

export type Block =
  | { state: 'absent' }
  | { state: 'present'; begin: number; end: number; lines: string[] }
  | { state: 'broken'; reason: string };

export function findBlock(lines: PamLine[]): Block {
  const marked = (...marks: string[]): number[] =>
    lines.flatMap((l, i) => (marks.includes(l.text.trim()) ? [i] : []));
  const begins = marked(MARK_BEGIN, LEGACY_BEGIN);
  const ends = marked(MARK_END, LEGACY_END);
  if (begins.length === 0 && ends.length === 0) return { state: 'absent' };
  if (begins.length !== 1 || ends.length !== 1 || (ends[0] as number) < (begins[0] as number))
    return { state: 'broken', reason: 'the idv marker lines were edited by hand' };
  const begin = begins[0] as number;
  const end = ends[0] as number;
  return {
    state: 'present',
    begin,
    end,
    lines: lines.slice(begin, end + 1).map((l) => l.text.replace(/\s+$/, '')),
  };
}

export type Plan =
  | { kind: 'unchanged'; text: string; note: string }
  | { kind: 'write'; text: string; note: string; replacesBlock?: boolean }
  | { kind: 'refuse'; reason: string; byHand?: string[] };

type Reader = (name: string) => string | null;

/** Where the block goes, given the file without any idv block. */
function placement(
  lines: PamLine[],
  replace: boolean,
  readFile: Reader,
): { index: number; note: string; replaces?: string; gate?: boolean } | { refuse: string } {
  const invalid = lines.find((l) => l.kind === 'invalid');
  if (invalid && invalid.kind === 'invalid')
    return {
      refuse: `the file has a line PAM cannot read (${invalid.reason}): ${invalid.text.trim()}`,
    };
  const anchor = findAnchor(lines);
  if (!anchor)
    return {
      refuse:
        'unknown layout: no password step found (@include common-auth, auth include/substack system-auth or password-auth, or an auth pam_unix.so line)',
    };
  const what = anchor.line.text.trim().replace(/\s+/g, ' ');
  if (replace)
    return {
      index: anchor.index,
      replaces: anchor.line.text,
      note: `in place of "${what}" (public key + code; the line is kept as a comment)`,
    };
  let early = anchor.line.kind === 'rule' && anchor.file === null && canShortCircuit(anchor.line);
  if (anchor.file !== null && !anchor.substack) {
    const included = readFile(anchor.file);
    if (included === null)
      return { refuse: `unknown layout: "${what}" names ${anchor.file}, which cannot be read` };
    early = parseStack(included).some(canShortCircuit);
  }
  if (early)
    return {
      index: anchor.index,
      note: `before "${what}": it can end the stack early on success, which would skip the code, so the code is asked first`,
    };
  if (anchor.substack)
    return {
      index: anchor.index + 1,
      gate: true,
      note: `after "${what}", behind the password gate (a failed password ends the login before the code)`,
    };
  return { index: anchor.index + 1, note: `after "${what}"` };
}

/** The file as it was before `pam enable`: the block out, a replaced line back in its place. */
function withoutBlock(lines: PamLine[], block: Block): PamLine[] {
  if (block.state !== 'present') return lines;
  const restored = block.lines
    .filter((l) => l.startsWith(REPLACED_PREFIX))
    .map((l) => parseLine(l.slice(REPLACED_PREFIX.length)));
  return [...lines.slice(0, block.begin), ...restored, ...lines.slice(block.end + 1)];
}

export function planEnable(text: string, mode: Mode, o: LineOptions, readFile: Reader): Plan {
  const lines = parseStack(text);
  const block = findBlock(lines);
  if (block.state === 'broken')
    return { kind: 'refuse', reason: `${block.reason}; fix or remove them, then run again` };
  const facts = factsOf(block);
  const ssh = o.ssh ?? facts?.ssh ?? 'publickey';
  const breakGlass = o.breakGlass ?? facts?.breakGlass ?? [];
  const impossible = unsupported(mode, o.hook, ssh);
  if (impossible) return { kind: 'refuse', reason: impossible };
  const base = withoutBlock(lines, block);
  const place = placement(base, replacesPassword(mode, ssh), readFile);
  if ('refuse' in place)
    return {
      kind: 'refuse',
      reason: place.refuse,
      byHand: managedBlock(mode, o, undefined, breakGlass, ssh),
    };
  const want = managedBlock(mode, o, place.replaces, breakGlass, ssh, place.gate === true);
  if (
    block.state === 'present' &&
    block.begin === place.index &&
    block.lines.join('\n') === want.join('\n')
  )
    return { kind: 'unchanged', text, note: `already enabled (${place.note})` };
  const blockLines = want.map((t) => ({ text: t }));
  // The sshd block takes the place of the line it replaces (kept inside it as a comment).
  const rest = place.index + (place.replaces === undefined ? 0 : 1);
  const next = renderStack([...base.slice(0, place.index), ...blockLines, ...base.slice(rest)]);
  return {
    kind: 'write',
    text: next,
    note: place.note,
    replacesBlock: block.state === 'present',
  };
}

export function planDisable(text: string): Plan {
  const lines = parseStack(text);
  const block = findBlock(lines);
  if (block.state === 'broken')
    return { kind: 'refuse', reason: `${block.reason}; remove the idv lines by hand` };
  if (block.state === 'absent')
    return { kind: 'unchanged', text, note: 'not enabled; nothing to change' };
  return {
    kind: 'write',
    text: renderStack(withoutBlock(lines, block)),
    note: 'idv lines removed; the file is as it was before `pam enable`',
  };
}

export type ServiceState = 'enabled' | 'disabled' | 'outdated' | 'broken';

/** What `pam status` reports for one file. */
export function inspect(
  text: string,
  mode: Mode | null,
  o: LineOptions,
  readFile: Reader,
): {
  state: ServiceState;
  /** Which hook the block uses (absent when there is no block). */
  hook?: Hook;
  note: string;
} {
  const block = findBlock(parseStack(text));
  if (block.state === 'absent') return { state: 'disabled', note: 'no idv lines' };
  if (block.state === 'broken') return { state: 'broken', note: block.reason };
  const facts = factsOf(block) as BlockFacts;
  const hook = facts.hook;
  if (mode === null)
    return { state: 'enabled', hook, note: 'idv lines present (service not managed here)' };
  // Judged against the hook the block uses: status tells, `pam enable --hook` changes it.
  const plan = planEnable(text, mode, { ...o, hook }, readFile);
  if (plan.kind === 'unchanged')
    return { state: 'enabled', hook, note: plan.note.replace(/^already enabled /, '') };
  return {
    state: 'outdated',
    hook,
    note:
      plan.kind === 'refuse'
        ? plan.reason
        : 'idv lines differ from what `pam enable` writes with these options',
  };
}

/**
 * Checks a written file: it parses, holds exactly the expected block at the planned place, and
 * with the block taken out is the file as it was (nothing else was touched).
 */
export function verifyEnabled(
  before: string,
  after: string,
  mode: Mode,
  o: LineOptions,
  readFile: Reader,
): string | null {
  const plan = planEnable(after, mode, o, readFile);
  if (plan.kind !== 'unchanged') return 'the written file does not hold the expected idv lines';
  const undone = planDisable(after);
  const original = planDisable(before);
  if (undone.kind === 'refuse' || original.kind === 'refuse')
    return 'the idv markers are not intact';
  const normal = (t: string): string =>
    renderStack(parseStack(t))
      .split('\n')
      .map((l) => l.replace(/\s+$/, ''))
      .join('\n');
  if (normal(undone.text) !== normal(original.text))
    return 'lines other than the idv lines changed';
  return null;
}
