/**
 * Which cached user a login name is. The system may resolve names case-insensitively (SSSD,
 * winbind, LDAP with case-insensitive matching rules): there `C1` logs in as the account `c1`.
 * Taking `C1` for an unknown user would let that account in without its code under
 * `unknownUsers: skip`. The Node helper cannot ask getpwnam which account a name is, so the
 * agent's rule must be safe on its own:
 *
 *  1. a name cached exactly is that user;
 *  2. else a name that matches exactly one cached user case-insensitively is that user;
 *  3. else, when it matches several (`Alice` and `alice` both cached, `ALICE` typed), it is
 *     ambiguous and refused: we cannot tell which account the system will log in;
 *  4. else it is unknown here.
 *
 * No policy switch: rule 2 only ever turns "unknown" into "asked for a known user's code", so
 * it never lets a login through that the exact rule would refuse. See docs/agent.md.
 */

export type NameMatch =
  { kind: 'exact' | 'folded'; name: string } | { kind: 'ambiguous' } | { kind: 'unknown' };

/** The case-insensitive key of a name (names are ASCII: protocol/policy.ts NAME_RE). */
export function foldName(name: string): string {
  return name.toLowerCase();
}

export interface NameIndex {
  has(name: string): boolean;
  /** The cached names whose foldName is `key`. */
  folded(key: string): readonly string[];
}

export function matchName(typed: string, index: NameIndex): NameMatch {
  if (index.has(typed)) return { kind: 'exact', name: typed };
  const candidates = index.folded(foldName(typed));
  if (candidates.length === 1) return { kind: 'folded', name: candidates[0] as string };
  if (candidates.length > 1) return { kind: 'ambiguous' };
  return { kind: 'unknown' };
}
