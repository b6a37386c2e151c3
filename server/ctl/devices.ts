/**
 * `idvctl device ...`: registration tokens (create, list, revoke) and devices (list, show,
 * revoke). A token is printed once, by `device token create`; the list never has it.
 */
import { intFlag, stringFlag, type Command, type Parsed } from '../../protocol/cli.js';
import { parseDuration } from '../../protocol/duration.js';
import { IdvError } from '../../protocol/errors.js';
import type { ApiClient } from './client.js';
import { block, show, table } from './format.js';

type Json = Record<string, unknown>;
const enc = encodeURIComponent;

/** The device's event log chain in one line: intact, or what broke last. */
function chainLine(chain: unknown): string {
  const c = chain as { seq?: number; breaks?: number; lastBreak?: Json | null } | undefined;
  if (!c || typeof c.seq !== 'number') return '-';
  if (!c.breaks) return `intact (${c.seq} events)`;
  const b = c.lastBreak ?? {};
  return `BROKEN: ${c.breaks} break(s); last: ${String(b.kind)} at event ${String(b.seq)} (expected ${String(b.expected)}), found ${String(b.at)}`;
}

function durationFlag(values: Parsed['values'], name: string): number | undefined {
  const v = stringFlag(values, name);
  if (v === undefined) return undefined;
  const s = parseDuration(v);
  if (s === null)
    throw new IdvError('USAGE', `--${name} must be a duration like 900s, 15m, 12h, 30d (or 0)`);
  return s;
}

function tokenRow(t: Json): (string | number)[] {
  return [
    String(t.id),
    String(t.deviceGroup),
    `${String(t.usesLeft)}/${String(t.uses)}`,
    String(t.expiresAt),
    String(t.createdAt),
    String(t.createdBy || '-'),
    String(t.state),
  ];
}

const TOKEN_HEAD = ['ID', 'GROUP', 'USES LEFT', 'EXPIRES', 'CREATED', 'BY', 'STATE'];

export function deviceCommands(
  client: (values: Parsed['values']) => ApiClient,
): Record<string, Command> {
  return {
    'device token create': {
      summary: 'A registration token for agents (default: 1 use, 24h, device group default)',
      options: {
        'device-group': { type: 'string' },
        uses: { type: 'string' },
        ttl: { type: 'string' },
      },
      flags: {
        'device-group': { value: 'DG', help: 'the device group devices join (default: default)' },
        uses: { value: 'N', help: 'registrations allowed, 1 to 100000 (default: 1)' },
        ttl: { value: 'DUR', help: 'valid for this long, like 30m, 24h, 7d (default: 24h)' },
      },
      run: async ({ values }, io) => {
        const body: Json = {};
        const group = stringFlag(values, 'device-group');
        if (group !== undefined) body.deviceGroup = group;
        const uses = intFlag(values, 'uses', 1, 100_000);
        if (uses !== undefined) body.uses = uses;
        const ttl = durationFlag(values, 'ttl');
        if (ttl !== undefined) body.ttlSeconds = ttl;
        const r = await client(values).request<Json>('POST', '/v1/device-tokens', body);
        return show(
          io,
          values,
          r,
          () =>
            `${r.token as string}\n(id ${r.id as string}, device group ${r.deviceGroup as string}, ${r.uses as number} use(s), expires ${r.expiresAt as string}; shown once)`,
        );
      },
    },
    'device token list': {
      summary:
        'List registration tokens: id, device group, uses left, expiry, who made them, state (never the token)',
      run: async ({ values }, io) => {
        const r = await client(values).request<{ tokens: Json[] }>('GET', '/v1/device-tokens');
        return show(io, values, r, () =>
          r.tokens.length === 0
            ? 'no registration tokens'
            : table(TOKEN_HEAD, r.tokens.map(tokenRow)),
        );
      },
    },
    'device token revoke': {
      summary: 'Revoke a registration token: no agent can register with it after',
      args: 'ID',
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const t = await client(values).request<Json>(
          'POST',
          `/v1/device-tokens/${enc(positionals[0] as string)}/revoke`,
          {},
        );
        return show(
          io,
          values,
          t,
          () =>
            `revoked registration token ${String(t.id)} (device group ${String(t.deviceGroup)}, ${String(t.usesLeft)} of ${String(t.uses)} use(s) were left)`,
        );
      },
    },
    'device list': {
      summary: 'List devices with facts, last seen, synced revision and online state',
      run: async ({ values }, io) => {
        const r = await client(values).request<{ devices: Json[] }>('GET', '/v1/devices');
        return show(io, values, r, () =>
          table(
            ['ID', 'NAME', 'GROUP', 'OS', 'ONLINE', 'REVISION', 'LAST SEEN', 'STATE'],
            r.devices.map((d) => [
              d.id as string,
              d.name as string,
              d.deviceGroup as string,
              `${(d.facts as Json).os as string} ${(d.facts as Json).osVersion as string}`,
              d.online ? 'yes' : 'no',
              d.revision as number,
              d.lastSeenAt as string,
              d.revoked ? 'revoked' : 'active',
            ]),
          ),
        );
      },
    },
    'device show': {
      summary: 'Show one device',
      args: 'ID',
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const d = await client(values).request<Json>(
          'GET',
          `/v1/devices/${enc(positionals[0] as string)}`,
        );
        return show(io, values, d, () => block({ ...d, chain: chainLine(d.chain) }));
      },
    },
    'device revoke': {
      summary: 'Revoke a device: its connection is closed at once and refused after',
      args: 'ID',
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const d = await client(values).request<Json>(
          'POST',
          `/v1/devices/${enc(positionals[0] as string)}/revoke`,
          {},
        );
        return show(io, values, d, () => `revoked device ${d.id as string} (${d.name as string})`);
      },
    },
  };
}
