/**
 * `idvctl admin add | list | unlock | role | remove` (console accounts) and `idvctl audit [--follow]` (the audit
 * log the API, the console and idv-server write). Following polls with `after=SEQ`, so it
 * works against any replica and neither misses nor repeats an entry.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, intFlag, stringFlag, type Command, type Parsed } from '../../protocol/cli.js';
import { IdvError } from '../../protocol/errors.js';
import type { ApiClient } from './client.js';
import { printable, table } from './format.js';

type Json = Record<string, unknown>;
const enc = encodeURIComponent;

function auditRow(e: Json): string[] {
  const d = (e.detail ?? {}) as Json;
  const what = Object.entries(d)
    .map(
      ([k, v]) =>
        `${k}=${Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
    )
    .join(' ');
  return [
    String(e.at),
    String(e.actor),
    String(e.source),
    String(e.action),
    String(e.target || '-'),
    String(e.result),
    what || '-',
  ];
}

const AUDIT_HEAD = ['AT', 'WHO', 'FROM', 'ACTION', 'ON', 'RESULT', 'WHAT'];

export function adminCommands(
  client: (values: Parsed['values']) => ApiClient,
): Record<string, Command> {
  return {
    'admin add': {
      summary: 'Add a console admin: prints a one-time set-up link (password + authenticator)',
      args: 'NAME',
      options: { role: { type: 'string' } },
      flags: { role: { value: 'admin|helpdesk', help: 'what the admin may do (default: admin)' } },
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const role = stringFlag(values, 'role') ?? 'admin';
        if (role !== 'admin' && role !== 'helpdesk')
          throw new IdvError('USAGE', '--role must be admin or helpdesk');
        const r = await client(values).request<Json>('POST', '/v1/admins', {
          name: positionals[0],
          role,
        });
        io.out(
          values.json
            ? JSON.stringify(r)
            : `Set-up link for ${String(r.name)} (${String(r.role)}; shown once, works once, until ${String(r.linkExpiresAt)}):\n  ${String(r.link)}`,
        );
        return EXIT.OK;
      },
    },
    'admin list': {
      summary: 'List console admins, their role and whether they are locked',
      run: async ({ values }, io) => {
        const r = await client(values).request<{ admins: Json[] }>('GET', '/v1/admins');
        io.out(
          values.json
            ? JSON.stringify(r)
            : table(
                ['NAME', 'ROLE', 'STATE', 'LAST SIGN-IN'],
                r.admins.map((a) => [
                  String(a.name),
                  String(a.role),
                  a.locked ? 'locked' : a.status === 'setup' ? 'set-up pending' : 'active',
                  String(a.lastSignInAt ?? '-'),
                ]),
              ),
        );
        return EXIT.OK;
      },
    },
    'admin unlock': {
      summary: 'Unlock a console admin locked by five failed sign-ins',
      args: 'NAME',
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const r = await client(values).request<Json>(
          'POST',
          `/v1/admins/${enc(positionals[0] as string)}/unlock`,
          {},
        );
        io.out(values.json ? JSON.stringify(r) : `unlocked admin ${String(r.name)}`);
        return EXIT.OK;
      },
    },
    'admin role': {
      summary: 'Give a console admin another role (the last active admin stays admin)',
      args: 'NAME',
      options: { role: { type: 'string' } },
      flags: { role: { value: 'admin|helpdesk', help: 'the new role (required)' } },
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const role = stringFlag(values, 'role');
        if (role !== 'admin' && role !== 'helpdesk')
          throw new IdvError('USAGE', '--role must be admin or helpdesk');
        const r = await client(values).request<Json>(
          'PUT',
          `/v1/admins/${enc(positionals[0] as string)}/role`,
          { role },
        );
        io.out(values.json ? JSON.stringify(r) : `admin ${String(r.name)}: role ${String(r.role)}`);
        return EXIT.OK;
      },
    },
    'admin remove': {
      summary: 'Remove a console admin and end its sessions at once (not the last active admin)',
      args: 'NAME',
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const r = await client(values).request<Json>(
          'DELETE',
          `/v1/admins/${enc(positionals[0] as string)}`,
        );
        io.out(
          values.json
            ? JSON.stringify(r)
            : `removed admin ${String(r.removed)} (${String(r.sessions)} sessions ended)`,
        );
        return EXIT.OK;
      },
    },
    audit: {
      summary:
        'The audit log: who did what, when, from where (newest last); --follow waits for more',
      options: { follow: { type: 'boolean' }, limit: { type: 'string' } },
      flags: {
        follow: { help: 'keep printing new entries as they are written' },
        limit: { value: 'N', help: 'how many of the latest entries to print first (default 50)' },
      },
      run: async ({ values }, io) => {
        const api = client(values);
        const limit = intFlag(values, 'limit', 1, 1000) ?? 50;
        const first = await api.request<{ entries: Json[] }>('GET', `/v1/audit?limit=${limit}`);
        const entries = first.entries.reverse();
        if (!values.follow) {
          if (values.json) io.out(JSON.stringify({ entries }));
          else io.out(table(AUDIT_HEAD, entries.map(auditRow)));
          return EXIT.OK;
        }
        if (values.json) for (const e of entries) io.out(JSON.stringify(e));
        else io.out(table(AUDIT_HEAD, entries.map(auditRow)));
        let after = Number(entries.at(-1)?.seq ?? 0);
        for (;;) {
          await sleep(1000);
          const r = await api.request<{ entries: Json[] }>(
            'GET',
            `/v1/audit?after=${after}&limit=1000`,
          );
          if (r.entries.length) {
            for (const e of r.entries)
              io.out(values.json ? JSON.stringify(e) : auditRow(e).map(printable).join('  '));
            after = Number(r.entries.at(-1)?.seq ?? after);
          }
        }
      },
    },
  };
}
