/**
 * The helper's inputs: its command line (set by the administrator in the PAM file) and the
 * environment pam_exec gives it (PAM_*). Both are validated here, once, and frozen; nothing else
 * in the helper reads argv or process.env.
 */
import { IdvError } from '../protocol/errors.js';
import { COMMON_OPTIONS, intFlag, parseCommandLine, stringFlag } from '../protocol/cli.js';

export const DEFAULT_SOCKET = '/run/idv/agent.sock';
export const DEFAULT_TIMEOUT_SECONDS = 60;
/** Longest wait for any one reply of the agent (and for the connection). */
export const REPLY_TIMEOUT_MS = 5000;
/**
 * How long a login waits for an agent that is not there yet (its socket missing or refusing: a
 * restart, an upgrade, a crash that systemd restarts) and for its first answer, from the start of
 * the login, within --timeout. An agent that stays away longer is unavailable (fail closed).
 * pam-module/pam_idv.c has the same figure (AGENT_START_WAIT_MS).
 */
export const AGENT_START_WAIT_MS = 10_000;

export const USAGE = `Usage: idv-pam-helper [--socket PATH] [--authtok] [--fail-mode secure|safe] [--timeout SECONDS]

Run by pam_exec in the auth stack. Asks idv-agent whether this login needs a code, collects it
(from the terminal named by PAM_TTY, or from stdin with --authtok and pam_exec expose_authtok)
and exits 0 only when the agent says yes.

  --socket PATH        the agent's socket (default ${DEFAULT_SOCKET}; IDV_SOCKET is ignored)
  --authtok            read the code from stdin (pam_exec expose_authtok); one code per run
  --fail-mode MODE     secure (default): refuse when the agent cannot be asked;
                       safe: let the login through without a code, with a message
  --timeout SECONDS    give up after this long in total (default ${DEFAULT_TIMEOUT_SECONDS})

Exit codes: 0 the login may proceed; 1 refused; 2 wrong usage.
`;

export const OPTIONS = {
  ...COMMON_OPTIONS,
  socket: { type: 'string' },
  authtok: { type: 'boolean' },
  'fail-mode': { type: 'string' },
  timeout: { type: 'string' },
} as const;

export interface HelperOptions {
  readonly socket: string;
  readonly authtok: boolean;
  readonly failMode: 'secure' | 'safe';
  readonly timeoutMs: number;
}

export type ParsedArgs =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly options: HelperOptions };

/**
 * Parses argv (wrong usage throws IdvError USAGE, exit 2). The environment is taken only to
 * show that it is deliberately not read for options.
 */
export function parseHelperArgs(
  argv: string[],
  _env: Readonly<Record<string, string | undefined>>,
): ParsedArgs {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (positionals.length)
    throw new IdvError('USAGE', `unexpected argument ${JSON.stringify(positionals[0])}`);
  // Never from the environment: pam_exec passes the PAM environment, which pam_env (user_readenv)
  // or the application may fill; a socket the user picks could be a fake agent answering `skip`.
  const socket = stringFlag(values, 'socket') ?? DEFAULT_SOCKET;
  if (socket === '' || socket.includes('\0')) throw new IdvError('USAGE', '--socket needs a path');
  const failMode = stringFlag(values, 'fail-mode') ?? 'secure';
  if (failMode !== 'secure' && failMode !== 'safe')
    throw new IdvError('USAGE', '--fail-mode must be secure or safe');
  const timeout = intFlag(values, 'timeout', 1, 3600) ?? DEFAULT_TIMEOUT_SECONDS;
  return {
    kind: 'run',
    options: Object.freeze({
      socket,
      authtok: values.authtok === true,
      failMode,
      timeoutMs: timeout * 1000,
    }),
  };
}

/** What pam_exec tells the helper about this login. */
export interface LoginEnv {
  readonly user: string;
  readonly service: string;
  readonly rhost?: string;
  readonly tty?: string;
}

/** Same rule as protocol/policy.ts NAME_RE (a unit test keeps them equal). */
export const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;
/** A PAM service name (never `*`, which only policies use). */
export const SERVICE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export type EnvResult = { ok: true; value: LoginEnv } | { ok: false; message: string };

/**
 * Validates the PAM environment. A refusal's message names the variable but never echoes its
 * value: a confused user may have typed a password into the login name.
 */
export function parseLoginEnv(env: Readonly<Record<string, string | undefined>>): EnvResult {
  const type = env.PAM_TYPE;
  if (type !== 'auth') {
    const shown = type && /^[a-z_]{1,32}$/.test(type) ? type : type ? 'invalid' : 'not set';
    return {
      ok: false,
      message: `idv-pam-helper only runs in the auth stack (PAM_TYPE is ${shown}); check the PAM configuration`,
    };
  }
  const user = env.PAM_USER;
  if (!user || !NAME_RE.test(user))
    return { ok: false, message: 'idv-pam-helper: PAM_USER is missing or not a valid user name' };
  const service = env.PAM_SERVICE;
  if (!service || !SERVICE_RE.test(service))
    return { ok: false, message: 'idv-pam-helper: PAM_SERVICE is missing or not a valid name' };
  const value: { user: string; service: string; rhost?: string; tty?: string } = {
    user,
    service,
  };
  for (const [name, key] of [
    ['PAM_RHOST', 'rhost'],
    ['PAM_TTY', 'tty'],
  ] as const) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (v.length > 256 || CONTROL.test(v))
      return { ok: false, message: `idv-pam-helper: ${name} is not valid` };
    value[key] = v;
  }
  return { ok: true, value: Object.freeze(value) };
}

/**
 * The terminal device to ask on, from PAM_TTY, or null when the login has none (sshd sets
 * `ssh`, display managers `:0`). Only terminal device names are accepted, so a strange PAM_TTY
 * can never make the helper open some other file.
 */
export function terminalDevice(tty: string | undefined): string | null {
  if (!tty) return null;
  const m = /^(?:\/dev\/)?(pts\/[0-9]{1,6}|tty[0-9]{1,3}|ttyS[0-9]{1,3}|console)$/.exec(tty);
  return m ? `/dev/${m[1]}` : null;
}
