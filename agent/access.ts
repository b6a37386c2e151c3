/**
 * Telling "missing" from "cannot be read": the agent's files, folders and socket are root-only in
 * production, so a command run as another user must say that it needs root (and which path it
 * could not read) rather than report files as missing or fail with an unexplained error.
 */
import { accessSync, constants } from 'node:fs';
import { IdvError } from '../protocol/errors.js';

export type Access = 'ok' | 'missing' | 'denied';

/** True for the errno codes of "you may not" (not of "there is nothing"). */
export function isDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

function uidText(): string {
  const uid = process.getuid?.();
  return uid === undefined ? '' : ` as uid ${uid}`;
}

/** The error of a command that met a path only root may use: exit 1, says the path. */
export function needsRoot(path: string): IdvError {
  return new IdvError(
    'FORBIDDEN',
    `needs root: permission denied on ${path}${uidText()} (run it with sudo)`,
  );
}

/** The detail line doctor prints for such a path. */
export function deniedDetail(path: string): string {
  return `cannot read ${path}${uidText()} (permission denied): run doctor as root`;
}

/** Whether this process may use `path` (read, and write when asked): ok, missing or denied. */
export function accessOf(path: string, write = false): Access {
  try {
    accessSync(path, constants.R_OK | (write ? constants.W_OK : 0));
    return 'ok';
  } catch (err) {
    if (isDenied(err)) return 'denied';
    return 'missing';
  }
}
