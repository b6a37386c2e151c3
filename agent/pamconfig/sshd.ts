/**
 * Which sshd_config settings the sshd PAM wiring needs, and whether they are in effect. sshd
 * takes the first value it reads for a keyword (Include files are read where they appear), and
 * `Match` blocks only apply to some connections: only the global part is read here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { SshFirst } from './plan.js';

export interface SshdSetting {
  line: string;
  why: string;
  actual: string | null;
  ok: boolean;
}

/** Keyword (lower case) → effective value (lower case), global section only. */
export function readSshdConfig(path: string): Map<string, string> {
  const values = new Map<string, string>();
  const seen = new Set<string>();
  const read = (file: string): void => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    for (const raw of readFileSync(file, 'utf8').split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) continue;
      const m = /^(\S+)\s*(?:=\s*|\s+)(.*)$/.exec(line);
      if (!m) continue;
      const key = (m[1] as string).toLowerCase();
      const value = (m[2] as string).trim();
      if (key === 'match') return; // the rest of this file is conditional
      if (key === 'include') {
        for (const pattern of value.split(/\s+/)) {
          const full = isAbsolute(pattern) ? pattern : join('/etc/ssh', pattern);
          for (const f of expand(full)) read(f);
        }
        continue;
      }
      const canonical =
        key === 'challengeresponseauthentication' ? 'kbdinteractiveauthentication' : key;
      if (!values.has(canonical)) values.set(canonical, value.toLowerCase());
    }
  };
  read(path);
  return values;
}

/** A tiny glob for Include: `*` in the last path segment only (what sshd_config.d uses). */
function expand(pattern: string): string[] {
  const dir = dirname(pattern);
  const last = pattern.slice(dir.length + 1);
  if (!last.includes('*')) return [pattern];
  const re = new RegExp(`^${last.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  try {
    return readdirSync(dir)
      .filter((f) => re.test(f))
      .sort()
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** The effective configuration from `sshd -T` (root, host keys present), or null. */
export function sshdEffective(): Map<string, string> | null {
  for (const bin of ['/usr/sbin/sshd', '/usr/bin/sshd']) {
    if (!existsSync(bin)) continue;
    try {
      const out = execFileSync(bin, ['-T'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 5000,
      });
      const values = new Map<string, string>();
      for (const line of out.split('\n')) {
        const m = /^(\S+)\s+(.*)$/.exec(line.trim());
        if (m && !values.has(m[1] as string))
          values.set(m[1] as string, (m[2] as string).toLowerCase());
      }
      return values;
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * The settings the code prompt over SSH needs, with what is in effect now. Every list of
 * AuthenticationMethods must hold keyboard-interactive (a list without it logs in with no code),
 * and for key + code also publickey (the PAM stack then asks for the code alone).
 */
export function checkSshd(values: Map<string, string>, first: SshFirst): SshdSetting[] {
  const usePam = values.get('usepam') ?? 'no';
  const kbd = values.get('kbdinteractiveauthentication') ?? 'yes';
  const methods = values.get('authenticationmethods') ?? 'any';
  const need =
    first === 'publickey' ? ['publickey', 'keyboard-interactive'] : ['keyboard-interactive'];
  return [
    {
      line: 'UsePAM yes',
      why: 'sshd runs the PAM stack (and so idv) only with it',
      actual: values.get('usepam') ?? null,
      ok: usePam === 'yes',
    },
    {
      line: 'KbdInteractiveAuthentication yes',
      why: 'the code is asked through keyboard-interactive',
      actual: values.get('kbdinteractiveauthentication') ?? null,
      ok: kbd === 'yes',
    },
    {
      line: `AuthenticationMethods ${need.join(',')}`,
      why:
        first === 'publickey'
          ? 'without it a key alone, or the code alone, logs in'
          : 'without it a key or the password method logs in without the code',
      actual: values.get('authenticationmethods') ?? null,
      ok:
        methods !== 'any' &&
        methods.split(/\s+/).every((list) => need.every((m) => list.split(',').includes(m))),
    },
  ];
}
