/**
 * Files that hold secrets: folders 0700, files 0600, written atomically, checked on read.
 */
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { IdvError } from '../errors.js';

/** Creates the folder (and parents) if absent and makes it 0700. */
export function ensurePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
}

/** Writes `data` to `path` with mode 0600 through a temp file + fsync + rename. */
export function writePrivateFile(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Reads a secret file, refusing it when group or others can read or write it. */
export function readPrivateFile(path: string): Buffer {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new IdvError(
      code === 'ENOENT' ? 'NOT_INITIALIZED' : 'PERMISSION',
      `cannot read ${path}: ${code}`,
    );
  }
  if ((mode & 0o077) !== 0) {
    throw new IdvError(
      'PERMISSION',
      `${path} is mode ${(mode & 0o777).toString(8)}; it must be 0600`,
    );
  }
  return readFileSync(path);
}

/** The permission bits of a path, or null when it does not exist. */
export function modeOf(path: string): number | null {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return null;
  }
}
