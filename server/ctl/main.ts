/** idvctl: every admin action over the idv-server HTTP API. */
import {
  dispatch,
  uuidFlag,
  processIo,
  runProgram,
  stringFlag,
  type Command,
  type Parsed,
  type ProgramSpec,
} from '../../protocol/cli.js';
import { IdvError } from '../../protocol/errors.js';
import { tokenFrom } from '../../protocol/io/token-arg.js';
import { IDV_VERSION } from '../../protocol/version.js';
import { ApiClient } from './client.js';
import { eventsCommand } from './events.js';
import { deviceCommands } from './devices.js';
import { block, show, table } from './format.js';
import { integrationCommands } from './integrations.js';
import { adminCommands } from './admins.js';
import { helpdeskCommands } from './helpdesk.js';
import { policyCommands } from './policy.js';
import { IDVCTL_MANUAL } from './manual.js';

type Json = Record<string, unknown>;

function client(values: Parsed['values']): ApiClient {
  const flag = stringFlag(values, 'server');
  const server = flag ?? process.env.IDV_SERVER;
  if (!server) throw new IdvError('USAGE', '--server URL (or IDV_SERVER) is required');
  const token = tokenFrom({
    flag: stringFlag(values, 'token'),
    file: stringFlag(values, 'token-file'),
    env: { name: 'IDV_TOKEN', value: process.env.IDV_TOKEN },
    warn: (t) => processIo.err(`idvctl: ${t}`),
  });
  if (!token) throw new IdvError('USAGE', '--token-file F (or IDV_TOKEN) is required');
  const ca = stringFlag(values, 'ca');
  return new ApiClient({
    server,
    serverFrom: flag === undefined ? 'IDV_SERVER' : '--server',
    token,
    ...(ca ? { ca } : {}),
  });
}

const enc = encodeURIComponent;

function userTable(users: Json[]): string {
  return table(
    ['NAME', 'GROUPS', 'STATUS', 'MFA'],
    users.map((u) => [
      u.name as string,
      (u.groups as string[]).join(',') || '-',
      u.status as string,
      u.enrolled ? 'enrolled' : u.enrollmentPending ? 'pending' : 'not enrolled',
    ]),
  );
}

const GROUP_FLAG = { value: 'G', help: 'a user group; repeat for several' };
const EMAIL_FLAG = {
  value: 'ADDRESS',
  help: 'mail the link to this address (needs mail in the server config; remembered)',
};

interface MailOutcome {
  to: string;
  delivered: boolean;
  error?: string;
}

/** What became of the mail, in words: sent, or queued with the reason (retried by the server). */
function mailLines(mail: MailOutcome | null | undefined): string[] {
  if (!mail) return [];
  return mail.delivered
    ? [`Mailed to ${mail.to}.`]
    : [
        `Mail to ${mail.to} NOT delivered yet (${mail.error ?? 'unknown error'}); the server retries it (idvctl mail queue).`,
      ];
}

function userCommand(
  summary: string,
  action: string,
  options: Command['options'] = {},
  body: (values: Parsed['values']) => Json = () => ({}),
  flags: Command['flags'] = {},
): Command {
  return {
    summary,
    args: 'NAME',
    options,
    flags,
    positionals: 1,
    run: async ({ values, positionals }, io) => {
      const name = positionals[0] as string;
      const u = await client(values).request<Json>(
        'POST',
        `/v1/users/${enc(name)}/${action}`,
        body(values),
      );
      return show(io, values, u, () => `${action}: ${name}\n${block(u)}`);
    },
  };
}

export const spec: ProgramSpec = {
  name: 'idvctl',
  version: IDV_VERSION,
  globalOptions: {
    server: { type: 'string' },
    token: { type: 'string' },
    'token-file': { type: 'string' },
    ca: { type: 'string' },
  },
  globalFlags: {
    server: { value: 'URL', help: 'the idv-server URL (or IDV_SERVER)' },
    'token-file': { value: 'F', help: 'a file holding the admin token (or IDV_TOKEN)' },
    token: {
      value: 'T',
      help: 'the admin token itself (visible in ps: prefer --token-file or IDV_TOKEN)',
    },
    ca: { value: 'FILE', help: 'a private CA certificate (PEM) to trust for https' },
  },
  commands: {
    'user add': {
      summary:
        'Add a user (in zero or more user groups); --admin marks an admin (five portal sign-in attempts)',
      args: 'NAME',
      options: { group: { type: 'string', multiple: true }, admin: { type: 'boolean' } },
      flags: {
        group: GROUP_FLAG,
        admin: { help: 'an administrator: five portal sign-in attempts' },
      },
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const groups = (values.group as string[] | undefined) ?? [];
        const api = client(values);
        const u = await api.request<Json>('POST', '/v1/users', {
          name: positionals[0],
          groups,
        });
        if (values.admin) {
          const r = await api.request<Json>('PUT', `/v1/users/${enc(u.name as string)}/role`, {
            role: 'admin',
          });
          u.role = r.role;
        }
        return show(
          io,
          values,
          u,
          () => `added user ${u.name as string}${values.admin ? ' (admin)' : ''}`,
        );
      },
    },
    'user list': {
      summary: 'List users',
      run: async ({ values }, io) => {
        const r = await client(values).request<{ users: Json[] }>('GET', '/v1/users');
        return show(io, values, r, () => userTable(r.users));
      },
    },
    'user show': {
      summary: 'Show one user',
      args: 'NAME',
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const u = await client(values).request<Json>(
          'GET',
          `/v1/users/${enc(positionals[0] as string)}`,
        );
        return show(io, values, u, () => block(u));
      },
    },
    'user remove': {
      summary: 'Remove a user (from every device at once)',
      args: 'NAME',
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const r = await client(values).request<Json>(
          'DELETE',
          `/v1/users/${enc(positionals[0] as string)}`,
        );
        return show(io, values, r, () => `removed user ${positionals[0] as string}`);
      },
    },
    'user set-groups': {
      summary: "Replace a user's groups (devices gain or lose the user accordingly)",
      args: 'NAME',
      options: { group: { type: 'string', multiple: true } },
      flags: { group: GROUP_FLAG },
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const groups = (values.group as string[] | undefined) ?? [];
        const u = await client(values).request<Json>(
          'PUT',
          `/v1/users/${enc(positionals[0] as string)}/groups`,
          { groups },
        );
        return show(
          io,
          values,
          u,
          () => `${u.name as string}: groups ${groups.join(',') || '(none)'}`,
        );
      },
    },
    'user suspend': userCommand('Suspend a user (refused at every login)', 'suspend'),
    'user resume': userCommand('Resume a suspended user', 'resume'),
    'user enroll': {
      summary:
        'Start enrollment: a one-time link for the user, or the secret itself with --show-secret',
      args: 'NAME',
      options: { 'show-secret': { type: 'boolean' }, email: { type: 'string' } },
      flags: {
        'show-secret': {
          help: 'also print the secret and otpauth URI (then confirm with user confirm)',
        },
        email: EMAIL_FLAG,
      },
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const email = stringFlag(values, 'email');
        const api = client(values);
        const name = positionals[0] as string;
        const user = await api.request<Json>('GET', `/v1/users/${enc(name)}`);
        if (user.enrolled === true)
          io.err(
            `idvctl: warning: ${name} already has an authenticator app; it keeps working until this link is used, then the new app replaces it (user reset-mfa to end the old one now)`,
          );
        const r = await api.request<Json>('POST', `/v1/users/${enc(name)}/enroll`, {
          showSecret: values['show-secret'] === true,
          ...(email !== undefined ? { email } : {}),
        });
        return show(io, values, r, () =>
          [
            `Enrollment link for ${r.user as string} (valid until ${r.expiresAt as string}):`,
            `  ${r.link as string}`,
            ...mailLines(r.mail as MailOutcome | null),
            ...(r.otpauthUri
              ? [
                  'Authenticator URI:',
                  `  ${r.otpauthUri as string}`,
                  `Secret: ${r.secret as string}`,
                  `Then: idvctl user confirm ${r.user as string} CODE`,
                ]
              : [
                  `Send the link to ${r.user as string}: the page shows a QR code for the authenticator app and asks for one code.`,
                ]),
          ].join('\n'),
        );
      },
    },
    'user confirm': {
      summary: 'Activate the pending secret with a current code from the app',
      args: 'NAME CODE',
      positionals: 2,
      run: async ({ values, positionals }, io) => {
        const u = await client(values).request<Json>(
          'POST',
          `/v1/users/${enc(positionals[0] as string)}/confirm`,
          {
            code: positionals[1],
          },
        );
        return show(
          io,
          values,
          u,
          () =>
            `${u.name as string}: authenticator app active\n` +
            `recovery codes: none yet; \`idvctl user recovery-codes ${u.name as string} --regenerate\` prints ten (shown once; each works once at a login)`,
        );
      },
    },
    'user reset-mfa': {
      summary:
        "Remove the user's authenticator and recovery codes (stop working on every device at once) and issue a new enrollment link; the enrollment grace ends (no login that needs a code until the new app is set up) unless --grace starts a new one",
      args: 'NAME',
      options: { grace: { type: 'boolean' }, email: { type: 'string' } },
      flags: {
        grace: {
          help: 'start a new enrollment grace period (logins without a code until it runs out); not for an account that may be compromised',
        },
        email: { value: 'ADDRESS', help: 'mail the new link here (default: the address known)' },
      },
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const name = positionals[0] as string;
        const email = stringFlag(values, 'email');
        const api = client(values);
        const u = await api.request<Json>('POST', `/v1/users/${enc(name)}/reset-mfa`, {
          grace: values.grace === true,
        });
        // The new link goes by mail to the address given, else to the one known (if mail is set up).
        const e = await api.request<Json>('POST', `/v1/users/${enc(name)}/enroll`, {
          reset: true,
          ...(email !== undefined ? { email } : { sendMail: true }),
        });
        const r = { ...u, link: e.link, linkExpiresAt: e.expiresAt, mail: e.mail };
        return show(io, values, r, () =>
          [
            `reset-mfa: ${name} (authenticator and recovery codes removed everywhere)`,
            u.graceStartedAt === null
              ? 'Enrollment grace: ended. No login that needs a code until the new app is set up (--grace starts a new grace period)'
              : `Enrollment grace: a new one started ${u.graceStartedAt as string}: logins without a code until it runs out`,
            `New enrollment link (valid until ${e.expiresAt as string}):`,
            `  ${e.link as string}`,
            ...mailLines(e.mail as MailOutcome | null),
          ].join('\n'),
        );
      },
    },
    'user recovery-codes': {
      summary:
        'How many recovery codes a user has left; --regenerate prints ten new ones (the old stop working)',
      args: 'NAME',
      options: { regenerate: { type: 'boolean' } },
      flags: { regenerate: { help: 'print ten new codes, once; the old ones stop working' } },
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const path = `/v1/users/${enc(positionals[0] as string)}/recovery-codes`;
        const api = client(values);
        if (!values.regenerate) {
          const r = await api.request<Json>('GET', path);
          return show(
            io,
            values,
            r,
            () => `${r.user as string}: ${r.remaining as number} recovery code(s) left`,
          );
        }
        const r = await api.request<{ user: string; codes: string[] }>('POST', path, {
          regenerate: true,
        });
        return show(io, values, r, () =>
          [
            `New recovery codes for ${r.user} (shown once; the old ones no longer work):`,
            ...r.codes.map((c) => `  ${c}`),
          ].join('\n'),
        );
      },
    },
    'user unlock': userCommand(
      'Clear a lockout on every device, or on one with --device ID',
      'unlock',
      { device: { type: 'string' } },
      (values) => {
        const device = uuidFlag(values, 'device');
        return device ? { device } : {};
      },
      { device: { value: 'ID', help: 'only on this device (an id from device list)' } },
    ),
    'group list': {
      summary: 'List user groups and device groups',
      run: async ({ values }, io) => {
        const r = await client(values).request<{ userGroups: Json[]; deviceGroups: Json[] }>(
          'GET',
          '/v1/groups',
        );
        return show(io, values, r, () =>
          [
            table(
              ['USER GROUP', 'USERS'],
              r.userGroups.map((g) => [g.name as string, g.users as number]),
            ),
            '',
            table(
              ['DEVICE GROUP', 'DEVICES', 'POLICY'],
              r.deviceGroups.map((g) => [
                g.name as string,
                g.devices as number,
                g.policy as string,
              ]),
            ),
          ].join('\n'),
        );
      },
    },
    ...deviceCommands(client),
    ...policyCommands(client),
    events: eventsCommand(client),
    ...integrationCommands(client),
    ...adminCommands(client),
    ...helpdeskCommands(client),
  },
  manual: IDVCTL_MANUAL,
  epilog: '\nEnvironment: IDV_SERVER (server URL), IDV_TOKEN (admin token).\n',
};

process.exitCode = await runProgram(spec.name, process.argv.slice(2), (argv, io) =>
  dispatch(spec, argv, io),
);
