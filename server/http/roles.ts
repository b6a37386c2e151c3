/**
 * Who may call what: every /v1 route of the admin API names the least role it needs, and the
 * action name the audit log records for it. A route missing here needs `admin` (fail closed);
 * tests/integration/console-roles.test.ts walks every registered route against this table.
 *
 * `helpdesk`: view, unlock, reset MFA, enrollment links and recovery codes; no policy, no device
 * management, no admins, no audit. `admin`: everything. Bearer tokens act as `admin`.
 */
import type { AdminRole } from '../store/admins.js';

export type Role = AdminRole;

export interface RouteRule {
  role: Role;
  /** The audit log's name for a change made through this route (reads are not audited). */
  action?: string;
}

export const API_RULES: Readonly<Record<string, RouteRule>> = {
  'GET /v1/openapi.json': { role: 'helpdesk' },
  'GET /v1/users': { role: 'helpdesk' },
  'GET /v1/users/:name': { role: 'helpdesk' },
  'GET /v1/users/:name/recovery-codes': { role: 'helpdesk' },
  'GET /v1/groups': { role: 'helpdesk' },
  'GET /v1/devices': { role: 'helpdesk' },
  'GET /v1/devices/:id': { role: 'helpdesk' },
  'GET /v1/events': { role: 'helpdesk' },
  'GET /v1/events/stream': { role: 'helpdesk' },
  'GET /v1/policies/:group': { role: 'helpdesk' },
  'GET /v1/policies/:group/rollout': { role: 'helpdesk' },
  'POST /v1/users/:name/unlock': { role: 'helpdesk', action: 'user.unlock' },
  'POST /v1/users/:name/reset-mfa': { role: 'helpdesk', action: 'user.reset-mfa' },
  'POST /v1/users/:name/enroll': { role: 'helpdesk', action: 'user.enroll' },
  'POST /v1/users/:name/confirm': { role: 'helpdesk', action: 'user.confirm' },
  'POST /v1/users/:name/recovery-codes': { role: 'helpdesk', action: 'user.recovery-codes' },
  'POST /v1/users/:name/helpdesk-code': { role: 'helpdesk', action: 'user.helpdesk-code' },
  'POST /v1/users': { role: 'admin', action: 'user.add' },
  'DELETE /v1/users/:name': { role: 'admin', action: 'user.remove' },
  'POST /v1/users/:name/suspend': { role: 'admin', action: 'user.suspend' },
  'POST /v1/users/:name/resume': { role: 'admin', action: 'user.resume' },
  'PUT /v1/users/:name/groups': { role: 'admin', action: 'user.groups' },
  'PUT /v1/users/:name/role': { role: 'admin', action: 'user.role' },
  'PATCH /v1/policies/:group': { role: 'admin', action: 'policy.set' },
  'POST /v1/device-tokens': { role: 'admin', action: 'device.token-create' },
  'GET /v1/device-tokens': { role: 'admin' },
  'POST /v1/device-tokens/:id/revoke': { role: 'admin', action: 'device.token-revoke' },
  'POST /v1/devices/:id/revoke': { role: 'admin', action: 'device.revoke' },
  'GET /v1/admins': { role: 'admin' },
  'POST /v1/admins': { role: 'admin', action: 'admin.add' },
  'POST /v1/admins/:name/unlock': { role: 'admin', action: 'admin.unlock' },
  'DELETE /v1/admins/:name': { role: 'admin', action: 'admin.remove' },
  'PUT /v1/admins/:name/role': { role: 'admin', action: 'admin.role' },
  'GET /v1/audit': { role: 'admin' },
  'POST /v1/directory/sync': { role: 'admin', action: 'directory.sync' },
  'GET /v1/mail': { role: 'admin' },
  'GET /v1/forward': { role: 'admin' },
};

const RANK: Record<Role, number> = { helpdesk: 1, admin: 2 };

export function ruleFor(method: string, route: string): RouteRule {
  return API_RULES[`${method} ${route}`] ?? { role: 'admin' };
}

export function allows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}
