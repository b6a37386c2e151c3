/**
 * `idvctl policy show|set`. One table maps each flag to its policy field; the value's kind,
 * allowed values, range and default are read off the policy schema and DEFAULT_POLICY
 * (protocol/policy.ts), so --help and the local check (exit 2, before any round trip) cannot
 * drift from what the server accepts.
 */
import { z } from 'zod';
import { EXIT, stringFlag, type Command, type FlagDoc, type Parsed } from '../../protocol/cli.js';
import { formatDuration, parseDuration } from '../../protocol/duration.js';
import { IdvError } from '../../protocol/errors.js';
import { DEFAULT_POLICY, policySchema, type Policy } from '../../protocol/policy.js';
import type { ApiClient } from './client.js';
import { block } from './format.js';

type Json = Record<string, unknown>;
type Field = keyof Policy;

/** Flag → policy field, and what the field means to an admin (the rest comes from the schema). */
export const FLAGS: Record<string, { field: Field; means: string }> = {
  mfa: { field: 'mfa', means: 'ask for a code on these devices, or stay out of the way' },
  'user-groups': {
    field: 'userGroups',
    means: "user groups that may log in here ('' = every user)",
  },
  services: { field: 'services', means: 'PAM services that ask for a code (* = all)' },
  'max-attempts': { field: 'maxAttempts', means: 'failed codes in a row before lockout' },
  lockout: { field: 'lockoutSeconds', means: 'lockout length (0 = until an admin unlocks)' },
  window: { field: 'window', means: 'time steps accepted either side of now' },
  'offline-max-age': {
    field: 'offlineMaxAgeSeconds',
    means: 'how long the cache stays valid without a sync',
  },
  'fail-mode': {
    field: 'failMode',
    means: 'no decision possible: secure refuses, safe lets the login through',
  },
  exempt: { field: 'exemptUsers', means: 'break-glass accounts never asked for a code' },
  'enrollment-grace': {
    field: 'enrollmentGraceDays',
    means: 'days a user not yet enrolled may log in without a code',
  },
  prompts: { field: 'prompts', means: 'codes asked for within one login' },
  'unknown-users': {
    field: 'unknownUsers',
    means: 'accounts the server does not know: skip (not managed) or deny',
  },
  'account-max-failures': {
    field: 'accountMaxFailures',
    means: 'failed codes in a row over all devices before the account locks everywhere',
  },
  'self-unlock': {
    field: 'selfUnlock',
    means: 'a locked-out user may end the lockout with two consecutive codes',
  },
  'trusted-networks': {
    field: 'trustedNetworks',
    means: "CIDR networks whose remote logins are not asked for a code ('' = none)",
  },
  remember: {
    field: 'rememberSeconds',
    means: 'after a code, the same user and service here is not asked again for this long',
  },
};

type Kind =
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'bool' }
  | { kind: 'list' }
  | { kind: 'int' | 'duration' | 'days'; min: number; max: number };

export function kindOf(field: Field): Kind {
  const schema = policySchema.shape[field] as z.ZodType;
  if (schema instanceof z.ZodEnum) return { kind: 'enum', values: schema.options as string[] };
  if (schema instanceof z.ZodBoolean) return { kind: 'bool' };
  if (schema instanceof z.ZodArray) return { kind: 'list' };
  const n = schema as z.ZodNumber;
  const range = { min: n.minValue ?? 0, max: n.maxValue ?? Number.MAX_SAFE_INTEGER };
  if (field.endsWith('Seconds')) return { kind: 'duration', ...range };
  if (field.endsWith('Days')) return { kind: 'days', ...range };
  return { kind: 'int', ...range };
}

export function shown(field: Field, value: unknown): string {
  const k = kindOf(field).kind;
  if (k === 'duration') return formatDuration(value as number);
  if (k === 'days') return `${value as number}d`;
  if (k === 'bool') return value ? 'on' : 'off';
  if (Array.isArray(value)) return value.length ? value.join(',') : "''";
  return String(value);
}

/** What a value may be: `required, off`, `1-100`, `a duration from 1m to 365d`. */
export function allowed(field: Field): string {
  const k = kindOf(field);
  switch (k.kind) {
    case 'enum':
      return `one of ${k.values.join(', ')}`;
    case 'bool':
      return 'on or off';
    case 'list':
      return 'a comma-separated list';
    case 'int':
      return `a whole number from ${k.min} to ${k.max}`;
    case 'duration':
      return `a duration (900s, 15m, 12h, 30d) from ${formatDuration(k.min)} to ${formatDuration(k.max)}`;
    case 'days':
      return `whole days (7 or 7d) from ${k.min} to ${k.max}`;
  }
}

function placeholder(field: Field): string {
  const k = kindOf(field);
  return k.kind === 'enum'
    ? k.values.join('|')
    : { bool: 'on|off', list: 'A,B', int: 'N', duration: 'DUR', days: 'DAYS' }[k.kind];
}

const policyOptions = Object.fromEntries([
  ['device-group', { type: 'string' }],
  ...Object.keys(FLAGS).map((f) => [f, { type: 'string' }]),
]) as Record<string, { type: 'string' }>;

/** --help for each flag: meaning, allowed values, default. */
const policyFlags: Record<string, FlagDoc> = {
  'device-group': { value: 'DG', help: 'the device group (default: default)' },
  ...Object.fromEntries(
    Object.entries(FLAGS).map(([flag, { field, means }]) => [
      flag,
      {
        value: placeholder(field),
        help: `${means}; ${allowed(field)} (default: ${shown(field, DEFAULT_POLICY[field])})`,
      },
    ]),
  ),
};

const ON_OFF: Record<string, boolean> = { on: true, true: true, off: false, false: false };

export function parseValue(flag: string, field: Field, text: string): unknown {
  const k = kindOf(field).kind;
  const refuse = (): never => {
    throw new IdvError('USAGE', `--${flag} must be ${allowed(field)}`);
  };
  let value: unknown = text;
  if (k === 'list') {
    value = text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  } else if (k === 'bool') {
    const word = text.toLowerCase();
    value = Object.hasOwn(ON_OFF, word) ? ON_OFF[word] : refuse();
  } else if (k === 'int') {
    value = /^[0-9]{1,9}$/.test(text) ? Number(text) : refuse();
  } else if (k === 'duration') {
    value = parseDuration(text) ?? refuse();
  } else if (k === 'days') {
    const seconds = /^[0-9]{1,6}$/.test(text) ? Number(text) * 86_400 : parseDuration(text);
    value = seconds === null || seconds % 86_400 !== 0 ? refuse() : seconds / 86_400;
  }
  const checked = (policySchema.shape[field] as z.ZodType).safeParse(value);
  if (!checked.success) {
    if (k !== 'list') refuse();
    throw new IdvError(
      'USAGE',
      `--${flag}: ${checked.error.issues[0]?.message ?? 'not a valid list'}`,
    );
  }
  return checked.data;
}

/** The PATCH body from the flags given; every value checked here first (USAGE, exit 2). */
export function policyPatch(values: Parsed['values']): Json {
  const patch: Json = {};
  for (const [flag, { field }] of Object.entries(FLAGS)) {
    const text = stringFlag(values, flag);
    if (text !== undefined) patch[field] = parseValue(flag, field, text);
  }
  if (Object.keys(patch).length === 0)
    throw new IdvError('USAGE', 'policy set needs at least one field flag (see --help)');
  return patch;
}

/** Every policy field has a flag: a new field cannot be forgotten here. */
export const POLICY_FIELDS_WITHOUT_FLAG = Object.keys(policySchema.shape).filter(
  (f) => !Object.values(FLAGS).some((x) => x.field === f),
);

export function policyCommands(
  client: (values: Parsed['values']) => ApiClient,
): Record<string, Command> {
  const enc = encodeURIComponent;
  return {
    'policy show': {
      summary: 'Show the policy of a device group (default: default)',
      options: { 'device-group': { type: 'string' } },
      flags: { 'device-group': policyFlags['device-group'] as FlagDoc },
      run: async ({ values }, io) => {
        const group = stringFlag(values, 'device-group') ?? 'default';
        const r = await client(values).request<Json>('GET', `/v1/policies/${enc(group)}`);
        io.out(
          values.json
            ? JSON.stringify(r)
            : `device group ${group}${r.explicit ? '' : ' (defaults)'}\n${block(r.policy as Json)}`,
        );
        return EXIT.OK;
      },
    },
    'policy set': {
      summary: 'Change policy fields of a device group; pushed to its devices at once',
      options: policyOptions,
      flags: policyFlags,
      run: async ({ values }, io) => {
        const group = stringFlag(values, 'device-group') ?? 'default';
        const patch = policyPatch(values);
        const api = client(values);
        // A group no device, token or policy has yet is made by this change: say so (a typo?).
        const { deviceGroups } = await api.request<{ deviceGroups: Json[] }>('GET', '/v1/groups');
        if (group !== 'default' && !deviceGroups.some((g) => g.name === group))
          io.err(
            `idvctl: warning: device group ${group} is new (known: ${['default', ...deviceGroups.map((g) => String(g.name))].filter((n, i, a) => a.indexOf(n) === i).join(', ')}); this makes it. Check the spelling if you meant one of those.`,
          );
        const r = await api.request<Json>('PATCH', `/v1/policies/${enc(group)}`, patch);
        io.out(
          values.json ? JSON.stringify(r) : `device group ${group}\n${block(r.policy as Json)}`,
        );
        return EXIT.OK;
      },
    },
  };
}
