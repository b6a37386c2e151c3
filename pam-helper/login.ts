/**
 * One login's conversation with the agent, from `begin` to the verdict. The result is an exit
 * code; 0 is returned only on the agent's explicit `skip` or `ok` — or, with --fail-mode safe,
 * when the agent could not be asked at all. Every other path, including every error, refuses.
 */
import { ERRORS, isErrorCode } from '../protocol/errors.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { AgentLink, LinkError } from './agent-link.js';
import { normalizeCode } from './code.js';
import {
  AGENT_START_WAIT_MS,
  REPLY_TIMEOUT_MS,
  type HelperOptions,
  type LoginEnv,
} from './options.js';
import type { HelperReply } from './reply.js';
import type { ReadOutcome } from './terminal.js';
import { TEXT } from './text.js';

export const ALLOW = 0;
export const REFUSE = 1;

/** Where codes come from: the terminal (several per login) or stdin (exactly one). */
export interface CodeSource {
  readonly maxCodes: number;
  read(timeoutMs: number): Promise<ReadOutcome>;
  /** Shows a line while the conversation goes on (between two codes). */
  note(line: string): void;
}

export interface LoginDeps {
  /** Prints one outcome line (stdout: pam_exec's `stdout` shows it to the user). */
  out(line: string): void;
  /** Opens the code source when a code is needed; null when this login has no way to ask. */
  openSource(): CodeSource | null;
  now(): number;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/** Agent messages are printed verbatim, minus anything that could drive the terminal. */
export function printable(message: string): string {
  return message.replace(CONTROL, ' ');
}

export async function runLogin(
  options: HelperOptions,
  env: LoginEnv,
  deps: LoginDeps,
): Promise<number> {
  const deadline = deps.now() + options.timeoutMs;
  const left = (): number => Math.max(0, deadline - deps.now());
  const wait = (): number => Math.max(1, Math.min(REPLY_TIMEOUT_MS, left()));
  const say = (message: string | undefined): void => {
    if (message) deps.out(printable(message));
  };

  // Phase 1: the agent decides whether this login needs a code. Only here may fail-mode safe
  // apply: once the agent has asked for a code, a failure can no longer let the login through.
  // An agent that is restarting (upgrade, crash, systemctl restart) is waited for, not refused:
  // its socket may be missing or not yet listening, or (socket activation) the kernel holds the
  // connection until the new agent accepts it, so the first answer may take longer than one reply.
  const startBy = Math.min(deadline, deps.now() + AGENT_START_WAIT_MS);
  const startLeft = (): number => Math.max(0, startBy - deps.now());
  let link: AgentLink | null = null;
  let first: HelperReply;
  try {
    link = await AgentLink.connectWaiting(options.socket, startLeft, () => deps.out(TEXT.waiting));
    const begin: Record<string, unknown> = {
      type: 'begin',
      v: PROTOCOL_VERSION,
      user: env.user,
      service: env.service,
    };
    if (env.rhost !== undefined) begin.rhost = env.rhost;
    if (env.tty !== undefined) begin.tty = env.tty;
    first = await link.request(begin, Math.max(wait(), startLeft()));
  } catch (err) {
    link?.close();
    if (!(err instanceof LinkError)) throw err;
    // A socket that exists but refuses us (an unprivileged PAM client such as a screen locker)
    // is not an agent that is down: fail-mode safe must not turn it into a login without a code.
    if (err.reason === 'connect' && (err.message === 'EACCES' || err.message === 'EPERM')) {
      deps.out(TEXT.noPermission);
      return REFUSE;
    }
    return unavailable(options, deps);
  }

  try {
    switch (first.type) {
      case 'skip':
        say(first.message);
        return ALLOW;
      case 'deny':
      case 'locked':
        say(first.message);
        return REFUSE;
      case 'prompt':
        return await promptLoop(link, first, deps, left, wait, say);
      case 'error':
        // A live agent that cannot decide (shutting down, internal error) counts as unavailable;
        // one refusing the request itself (bad input, protocol version) is a plain refusal. So is
        // "busy" (RATE_LIMITED: too many logins at once): anyone able to start logins can make
        // the agent busy, and that must never turn fail-mode safe into a way around the code.
        if (
          isErrorCode(first.code) &&
          ERRORS[first.code].retryable &&
          first.code !== 'RATE_LIMITED'
        )
          return unavailable(options, deps);
        deps.out(TEXT.unavailable);
        return REFUSE;
      default:
        // `ok` or `invalid` before any code: not a conversation the helper trusts.
        return unavailable(options, deps);
    }
  } finally {
    link.close();
  }
}

function unavailable(options: HelperOptions, deps: LoginDeps): number {
  if (options.failMode === 'safe') {
    deps.out(TEXT.failOpen);
    return ALLOW;
  }
  deps.out(TEXT.unavailable);
  return REFUSE;
}

async function promptLoop(
  link: AgentLink,
  prompt: Extract<HelperReply, { type: 'prompt' }>,
  deps: LoginDeps,
  left: () => number,
  wait: () => number,
  say: (message: string | undefined) => void,
): Promise<number> {
  const source = deps.openSource();
  if (!source) {
    deps.out(TEXT.noTerminal);
    return REFUSE;
  }
  const prompts = Math.min(prompt.prompts, source.maxCodes);
  if (prompt.message) source.note(printable(prompt.message));
  for (let i = 0; i < prompts; i++) {
    const last = i === prompts - 1;
    const input = await source.read(left());
    if (input.kind === 'timeout') {
      deps.out(TEXT.timedOut);
      return REFUSE;
    }
    if (input.kind === 'cancel') {
      deps.out(TEXT.cancelled);
      return REFUSE;
    }
    const code = normalizeCode(input.line);
    if (code === null) {
      // Refused here, never sent: a typo must not cost one of the agent's counted attempts.
      if (last) deps.out(TEXT.notACode);
      else source.note(TEXT.notACode);
      continue;
    }
    let reply: HelperReply;
    try {
      reply = await link.request({ type: 'verify', code }, wait());
    } catch (err) {
      if (!(err instanceof LinkError)) throw err;
      deps.out(TEXT.unavailable);
      return REFUSE;
    }
    switch (reply.type) {
      case 'ok':
        say(reply.message);
        return ALLOW;
      case 'invalid':
        if (last || reply.attemptsLeft === 0) {
          say(reply.message);
          return REFUSE;
        }
        source.note(printable(reply.message));
        continue;
      case 'locked':
      case 'deny':
        say(reply.message);
        return REFUSE;
      default:
        deps.out(TEXT.unavailable);
        return REFUSE;
    }
  }
  return REFUSE;
}
