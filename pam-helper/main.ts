/**
 * idv-pam-helper: run by pam_exec at each login. Exits 0 only on an explicit yes from the agent.
 * Kept tiny: it imports no OTP library, no database and no schema library; the agent does the
 * work. argv and the PAM environment are validated first; then one conversation with the agent.
 */
import { IdvError } from '../protocol/errors.js';
import { endOnClosedOutput } from '../protocol/io/stdout.js';
import { versionLine } from '../protocol/version.js';
import { readAuthtok } from './authtok.js';
import { REFUSE, runLogin, type CodeSource } from './login.js';
import { USAGE, parseHelperArgs, parseLoginEnv, terminalDevice } from './options.js';
import { Terminal } from './terminal.js';
import { TEXT } from './text.js';

const EXIT_USAGE = 2;

// Every line goes to stdout: pam_exec sends stderr nowhere, and its `stdout` option shows each
// stdout line to the user. Writes to pipes, files and terminals are synchronous here.
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function main(): Promise<number> {
  // Should the event loop ever drain with the conversation unfinished, Node would exit with
  // process.exitCode — 0 by default, which pam_exec reads as success. Refuse unless set otherwise.
  process.exitCode = REFUSE;
  // pam_exec gone (or `idv-pam-helper --help | head -1`): end quietly, and never with a yes.
  endOnClosedOutput(REFUSE);
  let parsed;
  try {
    parsed = parseHelperArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof IdvError)) throw err;
    out(`idv-pam-helper: ${err.message}`);
    return EXIT_USAGE;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.kind === 'version') {
    out(versionLine('idv-pam-helper'));
    return 0;
  }
  const options = parsed.options;
  const env = parseLoginEnv(process.env);
  if (!env.ok) {
    out(env.message);
    return REFUSE;
  }

  let terminal: Terminal | null = null;
  const restore = (): void => {
    terminal?.close();
  };
  // Whatever ends the process, the terminal gets its mode back first.
  process.on('exit', restore);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      restore();
      out(TEXT.cancelled);
      process.exit(REFUSE);
    });
  }
  // A hard stop slightly after the overall timeout, should anything inside fail to give up.
  setTimeout(() => {
    restore();
    out(TEXT.timedOut);
    process.exit(REFUSE);
  }, options.timeoutMs + 1000).unref();

  const openSource = (): CodeSource | null => {
    if (options.authtok) {
      return { maxCodes: 1, read: (ms) => readAuthtok(process.stdin, ms), note: out };
    }
    const device = terminalDevice(env.value.tty);
    if (!device) return null;
    try {
      terminal = Terminal.open(device);
    } catch {
      return null;
    }
    const t = terminal;
    return {
      maxCodes: Number.POSITIVE_INFINITY,
      read: (ms) => t.read(TEXT.prompt, ms),
      // Between two prompts the line goes to the terminal itself, so that it cannot arrive
      // after the next prompt (pam_exec relays stdout asynchronously).
      note: (line) => t.write(`${line}\n`),
    };
  };

  try {
    return await runLogin(options, env.value, { out, openSource, now: Date.now });
  } finally {
    restore();
  }
}

// No top-level await: the helper is built as CommonJS, which Node loads faster than ESM.
main().then(
  // Exit now rather than when the event loop drains: stdin may still be open (pam_exec).
  (code) => process.exit(code),
  (err: unknown) => {
    // A bug must never open the door.
    out(TEXT.unavailable);
    process.stderr.write(`idv-pam-helper: internal error: ${(err as Error)?.name ?? 'unknown'}\n`);
    process.exit(REFUSE);
  },
);
