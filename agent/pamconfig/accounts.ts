/**
 * The local accounts behind a login decision that idv does not make: accounts that can log in
 * here but that the server does not manage (the policy's `unknownUsers` decides what happens to
 * them: `skip` lets them in with the password alone, `deny` refuses them), and whether a
 * break-glass account exists. Read from the local files (/etc/passwd, /etc/group, /etc/shells),
 * not through NSS: a break-glass account must work when a directory service is down, and
 * directory users are idv's to manage.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentPaths } from '../config.js';
import { openCache } from '../daemon.js';
import { factsOf, findBlock } from './plan.js';
import { parseStack } from './stack.js';

export interface AccountFiles {
  passwd: string;
  group: string;
  shells: string;
}

export const SYSTEM_FILES: Readonly<AccountFiles> = Object.freeze({
  passwd: '/etc/passwd',
  group: '/etc/group',
  shells: '/etc/shells',
});

/** Groups whose members can become root (Debian/Ubuntu sudo, RHEL wheel, macOS admin). */
export const ADMIN_GROUPS = ['sudo', 'wheel', 'admin'] as const;

export interface LoginAccount {
  name: string;
  uid: number;
  shell: string;
  /** The admin groups it is in. */
  adminGroups: string[];
}

function lines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  } catch {
    return [];
  }
}

/** True when the name is a local account (a line of /etc/passwd). */
export function localAccountExists(name: string, files: AccountFiles = SYSTEM_FILES): boolean {
  return lines(files.passwd).some((l) => l.split(':')[0] === name);
}

/** What to run to create a break-glass account, for a refusal that says how. */
export function createAccountHint(name: string): string {
  return `useradd --create-home --shell /bin/bash ${name} && passwd ${name}`;
}

/**
 * Local accounts that can log in: a shell listed in /etc/shells (not nologin or false), or a
 * member of an admin group (primary or listed).
 */
export function loginAccounts(files: AccountFiles = SYSTEM_FILES): LoginAccount[] {
  const shells = new Set(lines(files.shells).map((l) => l.trim()));
  const members = new Map<string, Set<string>>();
  const groupGids = new Map<number, string>();
  for (const l of lines(files.group)) {
    const [name = '', , gid = '', list = ''] = l.split(':');
    if (!(ADMIN_GROUPS as readonly string[]).includes(name)) continue;
    groupGids.set(Number(gid), name);
    for (const m of list.split(',').filter(Boolean)) {
      const set = members.get(m) ?? new Set<string>();
      set.add(name);
      members.set(m, set);
    }
  }
  const out: LoginAccount[] = [];
  for (const l of lines(files.passwd)) {
    const [name = '', , uid = '', gid = '', , , shell = ''] = l.split(':');
    const admin = new Set(members.get(name) ?? []);
    const primary = groupGids.get(Number(gid));
    if (primary) admin.add(primary);
    if (!shells.has(shell) && admin.size === 0) continue;
    out.push({ name, uid: Number(uid), shell, adminGroups: [...admin].sort() });
  }
  return out;
}

export interface Coverage {
  /** The cached policy's rule for accounts the server does not know; null before a first sync. */
  unknownUsers: 'skip' | 'deny' | null;
  /** Local login accounts the server does not manage (exempt ones apart). */
  unmanaged: LoginAccount[];
  /** Local login accounts the policy exempts (break-glass). */
  exempt: string[];
}

/**
 * Which local login accounts idv does not manage, from the agent's cache. Null when the cache
 * cannot be read (not registered yet, or not root); never creates the cache.
 */
export async function coverage(
  paths: AgentPaths,
  files: AccountFiles = SYSTEM_FILES,
): Promise<Coverage | null> {
  if (!existsSync(paths.cacheDb) || !existsSync(paths.cacheKey)) return null;
  let managed: Set<string>;
  let exemptUsers: string[];
  let unknownUsers: Coverage['unknownUsers'];
  try {
    const cache = await openCache(paths);
    try {
      managed = new Set(await cache.userNames());
      exemptUsers = cache.state.policy?.exemptUsers ?? [];
      unknownUsers = cache.state.policy?.unknownUsers ?? null;
    } finally {
      await cache.close();
    }
  } catch {
    return null;
  }
  const local = loginAccounts(files).filter((a) => !managed.has(a.name));
  return {
    unknownUsers,
    unmanaged: local.filter((a) => !exemptUsers.includes(a.name)),
    exempt: local.filter((a) => exemptUsers.includes(a.name)).map((a) => a.name),
  };
}

export function accountList(accounts: readonly LoginAccount[]): string {
  return accounts
    .map((a) => (a.adminGroups.length ? `${a.name} (${a.adminGroups.join(', ')})` : a.name))
    .join(', ');
}

export const DENY_HINT =
  'to require the code of every account, manage them in idv (`idvctl user add NAME`) or refuse the others: `idvctl policy set --unknown-users deny` (exempt the break-glass account first: `--exempt NAME`)';

/**
 * Plain words for what happens to local accounts idv does not manage; `pam enable`, `status`
 * and `doctor` print them.
 */
export function describeCoverage(c: Coverage | null): { warn: boolean; lines: string[] } {
  if (c === null || c.unknownUsers === null)
    return {
      warn: true,
      lines: [
        'Local accounts idv does not manage: unknown until the agent has synced (and readable only as root).',
        'With the default policy (unknownUsers: skip) they log in with their password alone;',
        DENY_HINT,
      ],
    };
  const list = c.unmanaged.length ? accountList(c.unmanaged) : 'none';
  const exempt = c.exempt.length ? ` Exempt (never asked): ${c.exempt.join(', ')}.` : '';
  if (c.unknownUsers === 'deny')
    return {
      warn: false,
      lines: [
        `Local accounts that can log in but idv does not manage: ${list}.${exempt}`,
        'The policy refuses them (unknownUsers: deny) at the services idv covers.',
      ],
    };
  return {
    warn: c.unmanaged.length > 0,
    lines: [
      `Local accounts that can log in but idv does not manage: ${list}.${exempt}`,
      c.unmanaged.length
        ? 'The policy lets them in with their password alone, no code (unknownUsers: skip);'
        : 'The policy would let such accounts in with their password alone (unknownUsers: skip).',
      ...(c.unmanaged.length ? [DENY_HINT] : []),
    ],
  };
}

/** The break-glass accounts each idv block in the PAM folder names (service → accounts). */
export function breakGlassInPam(pamDir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let names: string[];
  try {
    names = readdirSync(pamDir).sort();
  } catch {
    return out;
  }
  for (const n of names) {
    let text: string;
    try {
      text = readFileSync(join(pamDir, n), 'utf8');
    } catch {
      continue;
    }
    const facts = factsOf(findBlock(parseStack(text)));
    for (const account of facts?.breakGlass ?? [])
      out.set(account, [...(out.get(account) ?? []), n]);
  }
  return out;
}

interface AccountCheck {
  name: string;
  status: 'pass' | 'warn' | 'fail';
  detail: string;
}

/**
 * `doctor`'s account checks: every break-glass account named in PAM exists locally (a missing
 * one protects no one and reads as a safety net), and which local login accounts idv does not
 * manage, with what the policy does to them.
 */
export async function accountChecks(
  paths: AgentPaths,
  pamDir: string,
  files: AccountFiles = SYSTEM_FILES,
): Promise<AccountCheck[]> {
  const checks: AccountCheck[] = [];
  const breakGlass = breakGlassInPam(pamDir);
  if (breakGlass.size === 0)
    checks.push({
      name: 'break-glass account',
      status: 'warn',
      detail:
        'none in the PAM files: with the agent down, only root (console, rescue mode) gets in; see `idv-agent pam enable --break-glass NAME`',
    });
  for (const [account, services] of breakGlass)
    checks.push(
      localAccountExists(account, files)
        ? {
            name: 'break-glass account',
            status: 'pass',
            detail: `${account} exists (skips the code at ${services.join(', ')})`,
          }
        : {
            name: 'break-glass account',
            status: 'fail',
            detail: `${account} (named at ${services.join(', ')}) is not a local account; create it: ${createAccountHint(account)}`,
          },
    );
  const c = await coverage(paths, files);
  const words = describeCoverage(c);
  checks.push({
    name: 'accounts idv does not manage',
    status: words.warn ? 'warn' : 'pass',
    detail: words.lines.join(' '),
  });
  return checks;
}
