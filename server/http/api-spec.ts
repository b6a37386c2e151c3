/**
 * The admin API's route table for its OpenAPI document: each route with the very zod schemas its
 * handler validates with (imported from the route modules, never restated). A test starts the
 * real server and fails when a registered route is missing here or a route here is not served.
 * Adding a route: add its entry here with the schemas its handler passes to parseInput.
 */
import type { z } from 'zod';
import { registerRequestSchema, registerResponseSchema } from '../../protocol/messages.js';
import { policyPatchSchema } from '../../protocol/policy.js';
import { regenerateBody, roleBody } from '../portal/admin.js';
import { addAdminBody, adminRoleBody } from './admins.js';
import { auditQuery } from './audit.js';
import { tokenBody, tokenIdParams } from './device-tokens.js';
import { syncBody } from './directory.js';
import { rolloutQuery } from './policy.js';
import { eventQuery } from './events.js';
import {
  addUserBody,
  confirmBody,
  enrollBody,
  groupsBody,
  resetBody,
  unlockBody,
} from './users.js';
import { helpdeskCodeBody } from './helpdesk.js';
import { emptyBody, groupParams, idParams, nameParams } from './validate.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteDoc {
  method: Method;
  /** The route as fastify has it (`/v1/users/:name`). */
  url: string;
  tag: 'users' | 'devices' | 'policy' | 'events' | 'integrations' | 'server' | 'admins';
  summary: string;
  /** `admin`: a bearer admin token; `none`: no credential (or one inside the body). */
  auth: 'admin' | 'none';
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The success answer. */
  ok: { status: number; description: string; schema?: z.ZodType; contentType?: string };
}

const user = { tag: 'users', auth: 'admin', params: nameParams } as const;
const userOk = { status: 200, description: 'The user as the API shows it (never a secret)' };

export const API_ROUTES: readonly RouteDoc[] = [
  {
    method: 'GET',
    url: '/healthz',
    tag: 'server',
    auth: 'none',
    summary:
      'Liveness within a second: the current revision, how many agents are connected, what runs (version, commit, Node.js); 503 when the database does not answer or this replica is cut from its notifications (stale), and naming the cause (disk full, read-only, unreachable) from a failed write until a write succeeds again',
    ok: {
      status: 200,
      description: '{ok, revision, agents, insecure, database, stale, version, commit, node}',
    },
  },
  {
    method: 'GET',
    url: '/metrics',
    tag: 'server',
    auth: 'none',
    summary: 'Prometheus metrics (text exposition format)',
    ok: { status: 200, description: 'Metrics', contentType: 'text/plain' },
  },
  {
    method: 'GET',
    url: '/v1/openapi.json',
    tag: 'server',
    auth: 'none',
    summary: 'This document',
    ok: { status: 200, description: 'The OpenAPI 3.1 document of the admin API' },
  },
  {
    method: 'GET',
    url: '/v1/users',
    tag: 'users',
    auth: 'admin',
    summary: 'List users',
    ok: { status: 200, description: '{users: [user]}' },
  },
  {
    method: 'POST',
    url: '/v1/users',
    tag: 'users',
    auth: 'admin',
    summary: 'Add a user (its enrollment grace starts now)',
    body: addUserBody,
    ok: { status: 201, description: 'The new user' },
  },
  { ...user, method: 'GET', url: '/v1/users/:name', summary: 'Show a user', ok: userOk },
  {
    ...user,
    method: 'DELETE',
    url: '/v1/users/:name',
    summary: 'Remove a user from every device',
    ok: { status: 200, description: '{removed: name}' },
  },
  {
    ...user,
    method: 'POST',
    url: '/v1/users/:name/suspend',
    summary: 'Suspend a user: every device refuses their logins',
    body: emptyBody,
    ok: userOk,
  },
  {
    ...user,
    method: 'POST',
    url: '/v1/users/:name/resume',
    summary: 'Resume a suspended user',
    body: emptyBody,
    ok: userOk,
  },
  {
    ...user,
    method: 'PUT',
    url: '/v1/users/:name/groups',
    summary: "Replace a user's groups",
    body: groupsBody,
    ok: userOk,
  },
  {
    ...user,
    method: 'POST',
    url: '/v1/users/:name/enroll',
    summary: 'Start an enrollment: a one-time link (and, asked for, the secret)',
    body: enrollBody,
    ok: { status: 200, description: '{user, link, expiresAt[, otpauthUri, secret]}' },
  },
  {
    ...user,
    method: 'POST',
    url: '/v1/users/:name/confirm',
    summary: "Activate the pending secret with a code from the user's app",
    body: confirmBody,
    ok: userOk,
  },
  {
    ...user,
    method: 'POST',
    url: '/v1/users/:name/reset-mfa',
    summary: "Remove a user's authenticator everywhere (lost phone, compromise)",
    body: resetBody,
    ok: userOk,
  },
  {
    ...user,
    method: 'POST',
    url: '/v1/users/:name/unlock',
    summary: 'End a lockout everywhere, or on one device',
    body: unlockBody,
    ok: userOk,
  },
  {
    ...user,
    method: 'POST',
    url: '/v1/users/:name/helpdesk-code',
    summary:
      'A one-time code for one device, accepted offline at its code prompt (the code is in this answer only)',
    body: helpdeskCodeBody,
    ok: { status: 200, description: '{code, expiresAt}' },
  },
  {
    ...user,
    method: 'POST',
    url: '/v1/users/:name/recovery-codes',
    summary: 'Replace the recovery codes; the ten new codes are in this answer only',
    body: regenerateBody,
    ok: { status: 200, description: '{user, codes}' },
  },
  {
    ...user,
    method: 'GET',
    url: '/v1/users/:name/recovery-codes',
    summary: 'How many recovery codes are left',
    ok: { status: 200, description: '{user, remaining}' },
  },
  {
    ...user,
    method: 'PUT',
    url: '/v1/users/:name/role',
    summary: "Set a user's role (admins get five sign-in attempts in the portal)",
    body: roleBody,
    ok: { status: 200, description: '{name, role}' },
  },
  {
    method: 'GET',
    url: '/v1/groups',
    tag: 'users',
    auth: 'admin',
    summary: 'User groups and device groups with their counts',
    ok: { status: 200, description: '{userGroups, deviceGroups}' },
  },
  {
    method: 'POST',
    url: '/v1/device-tokens',
    tag: 'devices',
    auth: 'admin',
    summary: 'Create a registration token (shown once)',
    body: tokenBody,
    ok: {
      status: 201,
      description: 'The token (only in this answer) with id, deviceGroup, uses, expiresAt, ...',
    },
  },
  {
    method: 'GET',
    url: '/v1/device-tokens',
    tag: 'devices',
    auth: 'admin',
    summary:
      'Registration tokens, newest first: id, device group, uses left of total, expiry, created at and by, state (never the token or its hash)',
    ok: { status: 200, description: '{tokens: [token]}' },
  },
  {
    method: 'POST',
    url: '/v1/device-tokens/:id/revoke',
    tag: 'devices',
    auth: 'admin',
    params: tokenIdParams,
    body: emptyBody,
    summary: 'Revoke a registration token: no agent can register with it after',
    ok: { status: 200, description: 'The token (never the token itself)' },
  },
  {
    method: 'GET',
    url: '/v1/devices',
    tag: 'devices',
    auth: 'admin',
    summary: 'List devices',
    ok: { status: 200, description: '{devices: [device]}' },
  },
  {
    method: 'GET',
    url: '/v1/devices/:id',
    tag: 'devices',
    auth: 'admin',
    params: idParams,
    summary: 'Show a device',
    ok: { status: 200, description: 'The device' },
  },
  {
    method: 'POST',
    url: '/v1/devices/:id/revoke',
    tag: 'devices',
    auth: 'admin',
    params: idParams,
    body: emptyBody,
    summary: 'Revoke a device: its connection is closed at once and refused after',
    ok: { status: 200, description: 'The device' },
  },
  {
    method: 'POST',
    url: '/v1/register',
    tag: 'devices',
    auth: 'none',
    summary: 'Register an agent (the registration token in the body is the credential)',
    body: registerRequestSchema,
    ok: { status: 200, description: 'The new device', schema: registerResponseSchema },
  },
  {
    method: 'GET',
    url: '/v1/policies/:group',
    tag: 'policy',
    auth: 'admin',
    params: groupParams,
    summary: "A device group's policy, defaults filled in",
    ok: { status: 200, description: '{deviceGroup, policy, explicit}' },
  },
  {
    method: 'PATCH',
    url: '/v1/policies/:group',
    tag: 'policy',
    auth: 'admin',
    params: groupParams,
    body: policyPatchSchema,
    summary: 'Change some fields of a device group policy; pushed to its devices at once',
    ok: { status: 200, description: '{deviceGroup, policy, explicit}' },
  },
  {
    method: 'GET',
    url: '/v1/events',
    tag: 'events',
    auth: 'admin',
    query: eventQuery,
    summary: 'Login events, oldest first',
    ok: { status: 200, description: '{events: [event]}' },
  },
  {
    method: 'GET',
    url: '/v1/events/stream',
    tag: 'events',
    auth: 'admin',
    query: eventQuery,
    summary: 'The matching backlog, then every new event as it is stored (one JSON per line)',
    ok: { status: 200, description: 'Events, one per line', contentType: 'application/x-ndjson' },
  },
  {
    method: 'POST',
    url: '/v1/directory/sync',
    tag: 'integrations',
    auth: 'admin',
    body: syncBody,
    summary:
      'Sync users and groups from the LDAP / AD directory now (dryRun: the plan only); refused, changing nothing, when the directory is unreachable or its answer suspicious',
    ok: { status: 200, description: '{dryRun, users, lastUsers, changed, plan, mailed}' },
  },
  {
    method: 'GET',
    url: '/v1/mail',
    tag: 'integrations',
    auth: 'admin',
    summary: 'Enrollment mail not delivered yet (never the link)',
    ok: { status: 200, description: '{configured, queue: [mail]}' },
  },
  {
    method: 'GET',
    url: '/v1/forward',
    tag: 'integrations',
    auth: 'admin',
    summary: 'Each event destination: its cursor, how far behind, the last error',
    ok: {
      status: 200,
      description: '{lastEventSeq, lastAuditSeq, destinations: [destination, one per stream]}',
    },
  },
  {
    method: 'GET',
    url: '/v1/policies/:group/rollout',
    tag: 'policy',
    auth: 'admin',
    params: groupParams,
    query: rolloutQuery,
    summary: "How many of the group's devices have applied a revision (a policy push's progress)",
    ok: { status: 200, description: '{deviceGroup, revision, total, acked}' },
  },
  {
    method: 'GET',
    url: '/v1/admins',
    tag: 'admins',
    auth: 'admin',
    summary: 'Console admin accounts (never a secret)',
    ok: { status: 200, description: '{admins: [admin]}' },
  },
  {
    method: 'POST',
    url: '/v1/admins',
    tag: 'admins',
    auth: 'admin',
    body: addAdminBody,
    summary: 'Add a console admin: its one-time set-up link, shown once',
    ok: { status: 201, description: 'The admin, with link and linkExpiresAt' },
  },
  {
    method: 'DELETE',
    url: '/v1/admins/:name',
    tag: 'admins',
    auth: 'admin',
    params: nameParams,
    summary: 'Remove a console admin and end its sessions (not the last active admin)',
    ok: { status: 200, description: '{removed, sessions}' },
  },
  {
    method: 'PUT',
    url: '/v1/admins/:name/role',
    tag: 'admins',
    auth: 'admin',
    params: nameParams,
    body: adminRoleBody,
    summary: 'Give a console admin another role (not the last active admin away from admin)',
    ok: { status: 200, description: 'The admin' },
  },
  {
    method: 'POST',
    url: '/v1/admins/:name/unlock',
    tag: 'admins',
    auth: 'admin',
    params: nameParams,
    body: emptyBody,
    summary: 'Unlock a console admin locked by five failed sign-ins',
    ok: { status: 200, description: 'The admin' },
  },
  {
    method: 'GET',
    url: '/v1/audit',
    tag: 'admins',
    auth: 'admin',
    query: auditQuery,
    summary: 'The audit log: every admin action, newest first (oldest first with after)',
    ok: { status: 200, description: '{entries: [entry]}' },
  },
];
