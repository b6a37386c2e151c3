/**
 * Reads the users (and their groups) from an LDAP directory with ldapts: connect (ldaps, or
 * ldap + StartTLS), bind with the service account, one paged search for users and, for group
 * objects, one for groups. Nothing here changes anything; any failure is DIRECTORY_UNAVAILABLE.
 */
import { Client, type Entry } from 'ldapts';
import { IdvError } from '../../protocol/errors.js';
import { nameSchema } from '../../protocol/policy.js';
import type { DirectoryConfig } from './config.js';

/** One user as the directory describes it. */
export interface DirectoryEntry {
  dn: string;
  login: string;
  /** idv user groups (the taken directory groups' names). */
  groups: string[];
  /** Active Directory's userAccountControl has ACCOUNTDISABLE (bit 2) set. */
  disabled: boolean;
  mail?: string;
}

export interface DirectoryRead {
  entries: DirectoryEntry[];
  /** Entries or groups left out, with why (an unusable name, a duplicate login). */
  skipped: { dn: string; reason: string }[];
}

const ACCOUNTDISABLE = 2;

function values(entry: Entry, attribute: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  if (key === undefined) return [];
  const v = entry[key];
  const list = Array.isArray(v) ? v : [v];
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
}

/** The value of a DN's first RDN: `cn=ops,ou=groups,dc=example` → `ops`. */
export function firstRdnValue(dn: string): string {
  let i = 0;
  while (i < dn.length && !(dn[i] === ',' && dn[i - 1] !== '\\')) i++;
  const rdn = dn.slice(0, i);
  const eq = rdn.indexOf('=');
  return rdn
    .slice(eq + 1)
    .trim()
    .replace(/\\(.)/g, '$1');
}

const normDn = (dn: string): string => dn.replace(/\s*,\s*/g, ',').toLowerCase();

/** Turns directory group names into idv groups: only the taken ones, only usable names. */
function groupPicker(config: DirectoryConfig, skipped: DirectoryRead['skipped']) {
  const taken = config.groups ? new Map(config.groups.map((g) => [g.toLowerCase(), g])) : null;
  const warned = new Set<string>();
  return (name: string, dn: string): string | null => {
    const picked = taken ? taken.get(name.toLowerCase()) : name;
    if (picked === undefined) return null;
    if (!nameSchema.safeParse(picked).success) {
      if (!warned.has(dn)) {
        warned.add(dn);
        skipped.push({ dn, reason: `group name ${JSON.stringify(picked)} is not usable in idv` });
      }
      return null;
    }
    return picked;
  };
}

async function connect(config: DirectoryConfig, password: string, ca?: Buffer): Promise<Client> {
  const ms = config.timeoutSeconds * 1000;
  const tlsOptions = { ...(ca ? { ca } : {}), minVersion: 'TLSv1.2' as const };
  const client = new Client({
    url: config.url,
    timeout: ms,
    connectTimeout: ms,
    ...(config.url.startsWith('ldaps:') ? { tlsOptions } : {}),
  });
  if (config.startTls) await client.startTLS(tlsOptions);
  await client.bind(config.bindDn, password);
  return client;
}

/** Reads every user under baseDn matching userFilter, with its taken groups. */
export async function readDirectory(
  config: DirectoryConfig,
  password: string,
  ca?: Buffer,
): Promise<DirectoryRead> {
  let client: Client | null = null;
  try {
    client = await connect(config, password, ca);
    const skipped: DirectoryRead['skipped'] = [];
    const pick = groupPicker(config, skipped);
    const m = config.membership;
    const attributes = [config.loginAttribute, 'userAccountControl'];
    if (config.mailAttribute) attributes.push(config.mailAttribute);
    if (m.kind === 'memberOf') attributes.push(m.attribute);
    const { searchEntries } = await client.search(config.baseDn, {
      scope: 'sub',
      filter: config.userFilter,
      attributes,
      paged: { pageSize: 500 },
    });
    // Group objects: member value (a DN, or a login name for memberUid) → group names.
    const groupsOf = new Map<string, string[]>();
    if (m.kind === 'groups') {
      const r = await client.search(m.baseDn ?? config.baseDn, {
        scope: 'sub',
        filter: m.filter,
        attributes: [m.nameAttribute, m.memberAttribute],
        paged: { pageSize: 500 },
      });
      for (const g of r.searchEntries) {
        const name = pick(values(g, m.nameAttribute)[0] ?? firstRdnValue(g.dn), g.dn);
        if (name === null) continue;
        for (const member of values(g, m.memberAttribute)) {
          const key = member.includes('=') ? normDn(member) : member;
          groupsOf.set(key, [...(groupsOf.get(key) ?? []), name]);
        }
      }
    }
    const entries: DirectoryEntry[] = [];
    const seen = new Set<string>();
    for (const e of searchEntries) {
      const login = values(e, config.loginAttribute)[0];
      if (login === undefined) {
        skipped.push({ dn: e.dn, reason: `no ${config.loginAttribute}` });
        continue;
      }
      if (!nameSchema.safeParse(login).success) {
        skipped.push({
          dn: e.dn,
          reason: `login name ${JSON.stringify(login)} is not usable in idv`,
        });
        continue;
      }
      if (seen.has(login)) {
        skipped.push({ dn: e.dn, reason: `login name ${login} appears twice` });
        continue;
      }
      seen.add(login);
      const groups =
        m.kind === 'memberOf'
          ? values(e, m.attribute)
              .map((g) => pick(firstRdnValue(g), g))
              .filter((g): g is string => g !== null)
          : [...(groupsOf.get(normDn(e.dn)) ?? []), ...(groupsOf.get(login) ?? [])];
      const uac = Number(values(e, 'userAccountControl')[0] ?? 0);
      const mail = config.mailAttribute ? values(e, config.mailAttribute)[0] : undefined;
      entries.push({
        dn: e.dn,
        login,
        groups: [...new Set(groups)].sort(),
        disabled: Number.isInteger(uac) && (uac & ACCOUNTDISABLE) !== 0,
        ...(mail ? { mail } : {}),
      });
    }
    return { entries, skipped };
  } catch (err) {
    if (err instanceof IdvError) throw err;
    const e = err as Error & { code?: unknown };
    const why = e.message || (typeof e.code === 'string' ? e.code : e.name);
    throw new IdvError(
      'DIRECTORY_UNAVAILABLE',
      `cannot read the directory at ${config.url}: ${why}`,
    );
  } finally {
    await client?.unbind().catch(() => undefined);
  }
}
