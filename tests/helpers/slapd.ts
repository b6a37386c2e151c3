/**
 * Test helper: a real OpenLDAP slapd (Debian's slapd package) in a temp folder on free ports:
 * ldap:// (with StartTLS) and ldaps://, a self-signed certificate, an mdb database under
 * dc=example,dc=org, a read-only service account for idv, and a small Active-Directory-like
 * schema (sAMAccountName, userAccountControl, memberOf as plain attributes) so AD entries can be
 * loaded as LDIF. Data goes in and changes through the real ldapadd / ldapmodify / ldapdelete.
 *
 *   const ldap = await startSlapd();
 *   await ldap.add(ldif);            // ldapadd as the root DN
 *   await ldap.stop();               // kills slapd, removes the folder
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCert } from './tls.js';

export const SUFFIX = 'dc=example,dc=org';
export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const BIND_DN = `cn=idv,ou=services,${SUFFIX}`;
export const BIND_PASSWORD = 'idv-bind-secret-Xq7';
const ROOT_PASSWORD = 'root-secret-not-for-idv';

/** Finds SLAPD: /usr/sbin is not on every PATH. */
export const SLAPD =
  ['/usr/sbin/slapd', '/usr/local/sbin/slapd'].find((p) => existsSync(p)) ?? 'slapd';

export interface Slapd {
  dir: string;
  /** ldap://127.0.0.1:PORT (StartTLS offered). */
  url: string;
  /** ldaps://127.0.0.1:PORT. */
  ldapsUrl: string;
  caFile: string;
  /** A 0600 file holding the service account's password. */
  passwordFile: string;
  add(ldif: string): Promise<void>;
  modify(ldif: string): Promise<void>;
  remove(dn: string): Promise<void>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const AD_SCHEMA = `
# A few Active Directory attributes (OIDs as Microsoft assigns them), enough for idv's AD case.
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.102 NAME 'memberOf'
  EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP inetOrgPerson STRUCTURAL
  MAY ( sAMAccountName $ userAccountControl $ memberOf ) )
`;

function tool(bin: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${bin} failed: ${stderr || err.message}`)) : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}

export async function startSlapd(): Promise<Slapd> {
  const dir = mkdtempSync(join(tmpdir(), 'idv-slapd-'));
  mkdirSync(join(dir, 'db'), { mode: 0o700 });
  const { cert, key } = selfSignedCert(dir);
  writeFileSync(join(dir, 'ad.schema'), AD_SCHEMA);
  const passwordFile = join(dir, 'bind.pw');
  writeFileSync(passwordFile, `${BIND_PASSWORD}\n`, { mode: 0o600 });
  const conf = join(dir, 'slapd.conf');
  writeFileSync(
    conf,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      'include /etc/ldap/schema/nis.schema',
      `include ${join(dir, 'ad.schema')}`,
      `pidfile ${join(dir, 'slapd.pid')}`,
      `argsfile ${join(dir, 'slapd.args')}`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      `TLSCertificateFile ${cert}`,
      `TLSCertificateKeyFile ${key}`,
      'database mdb',
      'maxsize 33554432',
      `suffix "${SUFFIX}"`,
      `rootdn "${ROOT_DN}"`,
      `rootpw ${ROOT_PASSWORD}`,
      `directory ${join(dir, 'db')}`,
      `access to attrs=userPassword by dn.exact="${ROOT_DN}" write by anonymous auth by * none`,
      `access to * by dn.exact="${BIND_DN}" read by * none`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const tlsPort = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = `ldaps://127.0.0.1:${tlsPort}`;
  // -d 0: stay in the foreground (killed with the test), log nothing.
  const child = spawn(SLAPD, ['-f', conf, '-h', `${url} ${ldapsUrl}`, '-d', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  const rootArgs = ['-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PASSWORD];
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`slapd exited: ${stderr}`);
    try {
      await tool('ldapwhoami', rootArgs);
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const slapd: Slapd = {
    dir,
    url,
    ldapsUrl,
    caFile: cert,
    passwordFile,
    add: async (ldif) => void (await tool('ldapadd', rootArgs, ldif)),
    modify: async (ldif) => void (await tool('ldapmodify', rootArgs, ldif)),
    remove: async (dn) => void (await tool('ldapdelete', [...rootArgs, dn])),
    stop: async () => {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await slapd.add(
    [
      `dn: ${SUFFIX}`,
      'objectClass: dcObject',
      'objectClass: organization',
      'o: Example',
      'dc: example',
      '',
      `dn: ou=services,${SUFFIX}`,
      'objectClass: organizationalUnit',
      'ou: services',
      '',
      `dn: ${BIND_DN}`,
      'objectClass: organizationalRole',
      'objectClass: simpleSecurityObject',
      'cn: idv',
      `userPassword: ${BIND_PASSWORD}`,
      '',
    ].join('\n'),
  );
  return slapd;
}
