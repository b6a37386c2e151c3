/** The `directory` section of the server config: where and how to read users and groups. */
import { z } from 'zod';
import { FilterParser } from 'ldapts';

const attribute = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9-]{0,63}$/,
    'must be an LDAP attribute name like uid or sAMAccountName',
  );
const filter = z
  .string()
  .min(3)
  .max(4096)
  .refine((f) => {
    try {
      FilterParser.parseString(f);
      return true;
    } catch {
      return false;
    }
  }, 'must be an LDAP filter like (objectClass=inetOrgPerson)');
const dn = z.string().min(3).max(1024);

export const directoryConfigSchema = z.strictObject({
  /** ldap://HOST[:PORT] (with startTls) or ldaps://HOST[:PORT]. */
  url: z
    .string()
    .regex(/^ldaps?:\/\/[^/\s]+\/?$/, 'must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]'),
  /** Upgrade an ldap:// connection with StartTLS before binding. */
  startTls: z.boolean().default(false),
  /** A CA certificate (PEM) to trust for ldaps / StartTLS. */
  caFile: z.string().min(1).optional(),
  bindDn: dn,
  /** A file (0600) holding the bind password; it never appears in the config or the logs. */
  bindPasswordFile: z.string().min(1),
  baseDn: dn,
  userFilter: filter.default('(objectClass=inetOrgPerson)'),
  /** The attribute that is the login name: uid (OpenLDAP), sAMAccountName (Active Directory). */
  loginAttribute: attribute.default('uid'),
  /** When set, its value is where enrollment mail goes. */
  mailAttribute: attribute.optional(),
  membership: z
    .discriminatedUnion('kind', [
      /** Each user entry lists its groups' DNs (AD; OpenLDAP with the memberof overlay). */
      z.strictObject({ kind: z.literal('memberOf'), attribute: attribute.default('memberOf') }),
      /** Group objects list their members (by DN, or by login name as posixGroup's memberUid). */
      z.strictObject({
        kind: z.literal('groups'),
        baseDn: dn.optional(),
        filter: filter.default(
          '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))',
        ),
        memberAttribute: attribute.default('member'),
        nameAttribute: attribute.default('cn'),
      }),
    ])
    .default({ kind: 'memberOf', attribute: 'memberOf' }),
  /** The directory groups (by name, the group's cn) that become idv user groups; absent: all. */
  groups: z.array(z.string().min(1).max(256)).max(1024).optional(),
  /** Seconds between scheduled syncs; 0: only on demand (idvctl directory sync). */
  intervalSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(900),
  /** Seconds for connecting and for each operation. */
  timeoutSeconds: z.number().min(0.1).max(600).default(15),
  /** New users with an address (mailAttribute) get their enrollment link by mail. */
  enrollmentMail: z.boolean().default(false),
});

export type DirectoryConfig = z.infer<typeof directoryConfigSchema>;
