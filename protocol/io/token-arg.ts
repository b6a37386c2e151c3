/**
 * A token for a command: `--token-file F`, the environment (where the program allows it), or
 * `--token T`. Every user of the machine can read every process's arguments (`ps`,
 * /proc/PID/cmdline), so a token given as an argument works but gets a warning on stderr; so
 * does a token file that group or others may read (a warning, not a refusal: `echo T > f` under
 * the usual umask makes 0644, and the token is the caller's to protect — docs/server.md).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { IdvError } from '../errors.js';

const MAX_BYTES = 4096;

export interface TokenSources {
  /** The value of `--token`, if given. */
  flag: string | undefined;
  /** The value of `--token-file`, if given. */
  file: string | undefined;
  /** The environment variable's value and name, where the program reads one. */
  env?: { name: string; value: string | undefined };
  /** Where warnings go (stderr), prefixed with the program's name by the caller. */
  warn: (text: string) => void;
}

/** The token, or undefined when none was given; USAGE for both flags or an unusable file. */
export function tokenFrom(s: TokenSources): string | undefined {
  if (s.flag !== undefined && s.file !== undefined)
    throw new IdvError('USAGE', 'give --token or --token-file, not both');
  if (s.file !== undefined) return readTokenFile(s.file, s.warn);
  if (s.flag !== undefined) {
    const instead = s.env ? `--token-file FILE or ${s.env.name}` : '--token-file FILE';
    s.warn(
      `warning: a token given with --token is visible to every user of this machine (ps); use ${instead}`,
    );
    return s.flag;
  }
  const fromEnv = s.env?.value;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** The one line of a token file (a final newline and surrounding blanks are dropped). */
export function readTokenFile(path: string, warn: (text: string) => void): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new IdvError(
      'USAGE',
      `cannot read the token file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new IdvError('USAGE', `the token file ${path} is not a regular file`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
      warn(
        `warning: the token file ${path} can be read by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    const buf = Buffer.alloc(MAX_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_BYTES)
      throw new IdvError('USAGE', `the token file ${path} is too large for a token`);
    text = buf.subarray(0, n).toString('utf8').trim();
  } finally {
    closeSync(fd);
  }
  if (text === '') throw new IdvError('USAGE', `the token file ${path} is empty`);
  if (/\s/.test(text))
    throw new IdvError('USAGE', `the token file ${path} must hold the token alone, on one line`);
  return text;
}
