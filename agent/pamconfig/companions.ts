/**
 * PAM services that let the same person in the same way as a service the administrator names.
 * Debian 12's `sudo -i` runs its own file, sudo-i, with its own `@include common-auth`; `su -`
 * runs su-l; pkexec runs polkit-1. A code that sudo asks and `sudo -i` does not protects nothing,
 * so `pam enable|disable|status` take each companion along with its parent; a companion whose
 * auth lines are its parent's (`auth include su`) is covered through it; and what idv does not
 * wire (pkexec) is named as a gap by enable, status and doctor.
 *
 * runuser and runuser-l need nothing: only root may run runuser, and their auth is
 * `pam_rootok.so` alone (docs/pam.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PASSWORD_FILES, findBlock, hasPasswordStep } from './plan.js';
import { parseStack } from './stack.js';

export interface Companion {
  service: string;
  parent: string;
  /** The command that runs this file. */
  how: string;
}

export const COMPANIONS: readonly Companion[] = [
  { service: 'sudo-i', parent: 'sudo', how: 'sudo -i' },
  { service: 'su-l', parent: 'su', how: 'su -' },
];

/** An elevation path idv does not wire itself: named whenever its parents ask for the code. */
const POLKIT = { service: 'polkit-1', parents: ['sudo', 'su'], how: 'pkexec' };

/** PAM's own fallback: a service without a file in /etc/pam.d is read from /usr/lib/pam.d. */
const VENDOR_DIR = '/usr/lib/pam.d';

type Reader = (name: string) => string | null;

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Reads a service as libpam would: from pamDir, and for /etc/pam.d from /usr/lib/pam.d after. */
export function serviceReader(pamDir: string): Reader {
  return (name) =>
    readOrNull(join(pamDir, name)) ??
    (pamDir.replace(/\/+$/, '') === '/etc/pam.d' ? readOrNull(join(VENDOR_DIR, name)) : null);
}

export function companionOf(service: string): Companion | undefined {
  return COMPANIONS.find((c) => c.service === service);
}

/** The services named, each followed by those of its companions that have a file here. */
export function withCompanions(services: string[], exists: (service: string) => boolean): string[] {
  const out: string[] = [];
  for (const s of services) {
    if (!out.includes(s)) out.push(s);
    for (const c of COMPANIONS)
      if (c.parent === s && !out.includes(c.service) && exists(c.service)) out.push(c.service);
  }
  return out;
}

/**
 * The service whose auth lines this file runs instead of a password step of its own
 * (`auth include su`, `auth substack sudo`, `@include su`), with the line; null when the file
 * has its own password step or pulls in no other service's auth lines.
 */
export function authVia(text: string, read: Reader): { service: string; line: string } | null {
  if (hasPasswordStep(text)) return null;
  for (const l of parseStack(text)) {
    const target =
      l.kind === 'include'
        ? l.target
        : l.kind === 'rule' && l.type === 'auth' && ['include', 'substack'].includes(l.control)
          ? l.module
          : null;
    if (target === null || PASSWORD_FILES.includes(target) || target.includes('/')) continue;
    const included = read(target);
    // `@include common-account` pulls in no auth lines: not a way in.
    if (
      included === null ||
      !parseStack(included).some(
        (x) => (x.kind === 'rule' && x.type === 'auth') || x.kind === 'include',
      )
    )
      continue;
    return { service: target, line: l.text.trim().replace(/\s+/g, ' ') };
  }
  return null;
}

export interface Gap {
  service: string;
  /** fail: idv's own wiring has a hole (`pam enable` closes it); warn: outside what idv wires. */
  severity: 'fail' | 'warn';
  message: string;
}

/** The file asks for the code: idv's block, or a line added by hand that runs idv. */
function hasBlock(text: string | null): boolean {
  if (text === null) return false;
  const lines = parseStack(text);
  return (
    findBlock(lines).state === 'present' ||
    lines.some(
      (l) =>
        l.kind === 'rule' &&
        l.type === 'auth' &&
        (/(^|\/)pam_idv\.so$/.test(l.module) || l.args.some((a) => /idv-pam-helper$/.test(a))),
    )
  );
}

/**
 * Ways in that skip the code while their parent asks for it: a companion with a password step
 * of its own and no idv lines (sudo-i left out by an older idv, or by hand), and pkexec.
 */
export function gaps(pamDir: string): Gap[] {
  const read = serviceReader(pamDir);
  const out: Gap[] = [];
  for (const c of COMPANIONS) {
    const own = read(c.service);
    if (!hasBlock(read(c.parent)) || own === null || hasBlock(own) || !hasPasswordStep(own))
      continue;
    out.push({
      service: c.service,
      severity: 'fail',
      message: `\`${c.how}\` asks for the password alone: ${c.service} has a password step of its own and no idv lines, while ${c.parent} asks for the code; run \`idv-agent pam enable --service ${c.parent}\``,
    });
  }
  const polkit = read(POLKIT.service);
  const asking = POLKIT.parents.filter((p) => hasBlock(read(p)));
  if (asking.length && polkit !== null && !hasBlock(polkit) && hasPasswordStep(polkit))
    out.push({
      service: POLKIT.service,
      severity: 'warn',
      message: `\`${POLKIT.how}\` (PAM service ${POLKIT.service}) makes an administrator root with the password alone, while ${asking.join(' and ')} ask${asking.length === 1 ? 's' : ''} for the code; idv does not wire it: remove pkexec (apt remove pkexec) or add the line by hand, see docs/pam.md "Every way in: sudo -i, su -, runuser, pkexec"`,
    });
  return out;
}
