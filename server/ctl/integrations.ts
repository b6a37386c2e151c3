/**
 * idvctl's commands for the admin's own systems: `directory sync` (plan or apply), `mail queue`
 * (enrollment mail not delivered yet) and `forward status` (what each destination took).
 */
import { EXIT, type Command, type Parsed } from '../../protocol/cli.js';
import type { ApiClient } from './client.js';
import { printable, table } from './format.js';

type Json = Record<string, unknown>;
interface Plan {
  add: { name: string; groups: string[] }[];
  adopt: { name: string }[];
  groups: { name: string; from: string[]; to: string[] }[];
  suspend: { name: string; reason: string }[];
  resume: { name: string }[];
  remove: { name: string }[];
  mail: { name: string; address: string }[];
  skipped: { dn: string; reason: string }[];
}
interface Report {
  dryRun: boolean;
  users: number;
  lastUsers: number | null;
  changed: boolean;
  plan: Plan;
  mailed: string[];
}

const list = (g: string[]): string => g.join(',') || '(none)';

/** The plan as one line per change, `+` add, `~` change, `-` suspend or remove. */
export function planText(r: Report): string {
  const p = r.plan;
  const lines = [
    ...p.add.map((a) => `+ add ${a.name} (groups ${list(a.groups)})`),
    ...p.adopt.map(
      (a) => `~ adopt ${a.name} (an existing user, managed by the directory from now on)`,
    ),
    ...p.groups.map((g) => `~ groups ${g.name}: ${list(g.from)} -> ${list(g.to)}`),
    ...p.resume.map((x) => `~ resume ${x.name}`),
    ...p.mail.map((m) => `~ mail ${m.name}: ${m.address}`),
    ...p.suspend.map((s) => `- suspend ${s.name} (${s.reason})`),
    ...p.remove.map((x) => `- remove ${x.name} (gone from the directory, --prune)`),
    ...p.skipped.map((s) => `  skipped ${s.dn}: ${s.reason}`),
  ].map(printable);
  const head = r.dryRun
    ? `Dry run: the directory has ${r.users} users; a sync would make ${r.changed ? 'these changes' : 'no change'}:`
    : `Synced: the directory has ${r.users} users; ${r.changed ? 'changes made' : 'nothing to change'}:`;
  const tail = r.mailed.length > 0 ? [`enrollment mail queued for ${r.mailed.join(', ')}`] : [];
  return [head, ...(lines.length > 0 ? lines : ['  (none)']), ...tail].join('\n');
}

export function integrationCommands(
  client: (values: Parsed['values']) => ApiClient,
): Record<string, Command> {
  return {
    'directory sync': {
      summary:
        'Sync users and groups from the LDAP / AD directory now (new users added, group changes pushed, users gone or disabled suspended)',
      options: {
        'dry-run': { type: 'boolean' },
        prune: { type: 'boolean' },
        force: { type: 'boolean' },
      },
      flags: {
        'dry-run': { help: 'print the plan, change nothing' },
        prune: { help: 'remove (not only suspend) users gone from the directory' },
        force: { help: 'accept a result under half of the last sync (never 0 users)' },
      },
      run: async ({ values }, io) => {
        const r = await client(values).request<Report>('POST', '/v1/directory/sync', {
          dryRun: values['dry-run'] === true,
          prune: values.prune === true,
          force: values.force === true,
        });
        io.out(values.json ? JSON.stringify(r) : planText(r));
        return EXIT.OK;
      },
    },
    'mail queue': {
      summary: 'Enrollment mail not delivered yet, with the last error (retried until delivered)',
      run: async ({ values }, io) => {
        const r = await client(values).request<{ configured: boolean; queue: Json[] }>(
          'GET',
          '/v1/mail',
        );
        io.out(
          values.json
            ? JSON.stringify(r)
            : !r.configured
              ? 'mail is not configured (no "mail" section in the server config)'
              : table(
                  ['USER', 'TO', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST ERROR'],
                  r.queue.map((m) => [
                    m.user as string,
                    m.address as string,
                    m.attempts as number,
                    m.nextAttemptAt as string,
                    m.lastError as string | null,
                  ]),
                ),
        );
        return EXIT.OK;
      },
    },
    'forward status': {
      summary:
        'Each destination (syslog, webhook) and stream (login, audit): last delivered, how far behind, last error',
      run: async ({ values }, io) => {
        const r = await client(values).request<{ lastEventSeq: number; destinations: Json[] }>(
          'GET',
          '/v1/forward',
        );
        io.out(
          values.json
            ? JSON.stringify(r)
            : table(
                ['DESTINATION', 'STREAM', 'BEHIND', 'LAST DELIVERED', 'FAILURES', 'LAST ERROR'],
                r.destinations.map((d) => [
                  d.name as string,
                  d.stream as string,
                  d.behind as number | null,
                  d.lastDeliveredAt as string | null,
                  d.failures as number,
                  d.lastError as string | null,
                ]),
              ),
        );
        return EXIT.OK;
      },
    },
  };
}
