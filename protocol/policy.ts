/**
 * The login policy: set per device group by the admin, pushed to every device of the group,
 * enforced by the agent. Field names, defaults and ranges are the ones in DESIGN.md ("Policy").
 */
import { z } from 'zod';
import { parseCidr } from './cidr.js';

/** A POSIX-style login or group name: no leading dash, no spaces, at most 64 characters. */
export const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;
export const nameSchema = z
  .string()
  .regex(NAME_RE, 'must be 1-64 of A-Z a-z 0-9 _ . @ - (no leading -)');
/** A PAM service name, or `*` for every service. */
export const serviceSchema = z
  .string()
  .regex(/^(\*|[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})$/, 'must be a PAM service name or *');

const ONE_YEAR = 365 * 86_400;
/** rememberSeconds' ceiling: a remembered success never outlives a working day. */
export const MAX_REMEMBER_SECONDS = 12 * 3600;

/** An IPv4 or IPv6 network as `address/prefix` (protocol/cidr.ts), host bits clear. */
export const cidrSchema = z.string().superRefine((text, ctx) => {
  const parsed = parseCidr(text);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

export const policySchema = z.strictObject({
  /** `required`: logins ask for a code; `off`: idv stays out of the way on these devices. */
  mfa: z.enum(['required', 'off']),
  /** Only users of these groups (and their secrets) are sent to the devices; empty = every user. */
  userGroups: z.array(nameSchema).max(256),
  /** PAM services that ask for a code. */
  services: z.array(serviceSchema).min(1).max(64),
  /** Consecutive failed codes before lockout (NIST SP 800-63B: at most 100). */
  maxAttempts: z.number().int().min(1).max(100),
  /** Lockout length in seconds; 0 = until an admin unlocks. */
  lockoutSeconds: z.number().int().min(0).max(ONE_YEAR),
  /** Accepted time steps either side of now (RFC 6238 §5.2 recommends at most one). */
  window: z.number().int().min(0).max(10),
  /** How long cached data stays valid without a sync. */
  offlineMaxAgeSeconds: z.number().int().min(60).max(ONE_YEAR),
  /** What happens when no decision can be made: `secure` refuses, `safe` lets the login through. */
  failMode: z.enum(['secure', 'safe']),
  /** Break-glass accounts never asked for a code. */
  exemptUsers: z.array(nameSchema).max(256),
  /** A required-but-not-enrolled user may log in without a code for this many days. */
  enrollmentGraceDays: z.number().int().min(1).max(365),
  /** Codes asked for within one login before the helper gives up. */
  prompts: z.number().int().min(1).max(10),
  /** Accounts the server does not know: `skip` (not managed here) or `deny`. */
  unknownUsers: z.enum(['skip', 'deny']),
  /**
   * Consecutive failed codes of one account over ALL devices (counted by the server) before the
   * account is locked everywhere until an admin unlocks it (NIST SP 800-63B: at most 100).
   */
  accountMaxFailures: z.number().int().min(1).max(100),
  /** A user locked out by failures may end the lockout with two consecutive valid codes. */
  selfUnlock: z.boolean(),
  /** Logins whose PAM_RHOST is a literal address inside one of these are not asked for a code. */
  trustedNetworks: z.array(cidrSchema).max(256),
  /** After an accepted code, the same user+service on this machine is not asked again for this long. */
  rememberSeconds: z.number().int().min(0).max(MAX_REMEMBER_SECONDS),
});

export type Policy = z.infer<typeof policySchema>;

export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze({
  mfa: 'required',
  userGroups: [],
  services: ['*'],
  maxAttempts: 5,
  lockoutSeconds: 900,
  window: 1,
  offlineMaxAgeSeconds: 2_592_000,
  failMode: 'secure',
  exemptUsers: [],
  enrollmentGraceDays: 7,
  prompts: 3,
  unknownUsers: 'skip',
  accountMaxFailures: 20,
  selfUnlock: true,
  trustedNetworks: [],
  rememberSeconds: 0,
});

/** A partial policy as an admin sends it (`policy set`): every field optional, none unknown. */
export const policyPatchSchema = policySchema.partial();
export type PolicyPatch = z.infer<typeof policyPatchSchema>;

/** Admins themselves get five attempts at the portal and console (source document). */
export const ADMIN_MAX_ATTEMPTS = 5;

/** True when the policy asks for a code for this PAM service. */
export function serviceRequiresCode(policy: Policy, service: string): boolean {
  return policy.services.includes('*') || policy.services.includes(service);
}
