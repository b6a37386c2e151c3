/** Events: the login events with filters (user, device, outcome, time), following live. */
import { OUTCOMES } from '../../../protocol/messages.js';
import { h, type Html } from '../../portal/html.js';
import { when } from '../layout.js';
import { ApiRefused, type Json, type PageCtx, type Rendered } from '../kit.js';

const GOOD = new Set(['ok', 'unlock']);
const BAD = new Set(['invalid', 'locked', 'deny', 'tamper']);
/** What an outcome means, for its badge's title ("skip" is no code asked, not a success). */
const MEANS: Record<string, string> = {
  skip: 'no code asked (not managed here, exempt, trusted network or enrollment grace)',
  prompt: 'a code was asked for',
  failopen: 'let through without a decision (fail mode safe)',
};

/** The badge class of an outcome: ok, bad, or warn for one that let a login by without a code. */
export function outcomeClass(o: string): string {
  return GOOD.has(o) ? 'ok' : BAD.has(o) ? 'bad' : o === 'skip' || o === 'failopen' ? 'warn' : '';
}

export function outcomeBadge(o: string): Html {
  return h`<span class="badge ${outcomeClass(o)}"${MEANS[o] ? h` title="${MEANS[o]}"` : ''}>${o}</span>`;
}

function time(text: string, label: string): number | undefined {
  if (!text) return undefined;
  const t = Date.parse(/Z|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  if (Number.isNaN(t))
    throw new ApiRefused(400, 'VALIDATION_FAILED', `${label}: not a date and time`);
  return t;
}

export async function eventsPage(c: PageCtx): Promise<Rendered> {
  const q = (k: string) => c.query.get(k) ?? '';
  const { devices } = (await c.api('GET', '/v1/devices')) as { devices: Json[] };
  const params = new URLSearchParams({ limit: '200' });
  if (q('user')) params.set('user', q('user'));
  if (q('device')) params.set('device', q('device'));
  const since = time(q('since'), 'From');
  const until = time(q('until'), 'Until');
  if (since !== undefined) params.set('since', String(since));
  if (until !== undefined) params.set('until', String(until));
  const { events } = (await c.api('GET', `/v1/events?${params}`)) as { events: Json[] };
  // The same filter, for the downloads (times as epoch ms: no time zone to guess).
  const download = new URLSearchParams();
  for (const k of ['user', 'device', 'outcome']) if (q(k)) download.set(k, q(k));
  if (since !== undefined) download.set('since', String(since));
  if (until !== undefined) download.set('until', String(until));
  const exportUrl = (format: string) =>
    `/admin/events/export?${new URLSearchParams([...download, ['format', format]]).toString()}`;
  const shown = events.filter((e) => !q('outcome') || e.outcome === q('outcome')).reverse();
  const last = (events.at(-1)?.seq as number | undefined) ?? 0;
  const live = until === undefined;
  const liveUrl = new URLSearchParams();
  for (const k of ['user', 'device', 'outcome']) if (q(k)) liveUrl.set(k, q(k));
  return {
    title: 'Events',
    live,
    body: h`<h1>Events</h1>
<form method="get" action="/admin/events" class="card filters" role="search" aria-label="Filter events">
<div><label for="f-user">User</label><input type="text" id="f-user" name="user" value="${q('user')}" maxlength="64" autocapitalize="off" spellcheck="false"></div>
<div><label for="f-device">Device</label><select id="f-device" name="device"><option value="">any</option>${devices.map((d) => h`<option value="${String(d.id)}"${d.id === q('device') ? h` selected` : ''}>${String(d.name)}</option>`)}</select></div>
<div><label for="f-outcome">Outcome</label><select id="f-outcome" name="outcome"><option value="">any</option>${OUTCOMES.map((o) => h`<option value="${o}"${o === q('outcome') ? h` selected` : ''}>${o}</option>`)}</select></div>
<div><label for="f-since">From (UTC)</label><input type="datetime-local" id="f-since" name="since" value="${q('since')}"></div>
<div><label for="f-until">Until (UTC)</label><input type="datetime-local" id="f-until" name="until" value="${q('until')}"></div>
<div><button type="submit" class="small">Filter</button> <a href="/admin/events">Clear</a></div>
</form>
<section class="card" aria-labelledby="list-h">
<h2 id="list-h">Login events <span class="muted">(newest first${live ? ', following live' : ''})</span></h2>
<p class="hint">All times UTC. Download what this filter shows (up to 10000 events): <a href="${exportUrl('csv')}" download>CSV</a> · <a href="${exportUrl('json')}" download>JSON</a></p>
<p class="hint" data-live-status role="status" aria-live="polite">${live ? 'New events appear at the top.' : ''}</p>
<div class="scroll" tabindex="0" role="region" aria-labelledby="list-h"><table class="stack"${live ? h` data-live="events" data-after="${last}" data-url="/admin/live/events?${liveUrl.toString()}"` : ''}>
<thead><tr><th scope="col">When</th><th scope="col">Device</th><th scope="col">User</th><th scope="col">Service</th><th scope="col">Outcome</th><th scope="col">Reason</th><th scope="col">From</th></tr></thead>
<tbody>${shown.map(
      (e) =>
        h`<tr><td class="when" data-label="When">${when(String(e.at))}</td><td data-label="Device">${String(e.deviceName ?? e.device)}</td><td data-label="User">${String(e.user)}</td><td data-label="Service">${String(e.service)}</td><td data-label="Outcome">${outcomeBadge(String(e.outcome))}${e.afterRevocation === true ? h` <span class="badge bad" title="uploaded by the device after it was revoked: a login it allowed before it knew">after revocation</span>` : ''}</td><td data-label="Reason">${String(e.reason ?? '—')}</td><td data-label="From">${String(e.rhost ?? '—')}</td></tr>`,
    )}${shown.length === 0 ? h`<tr data-empty><td colspan="7" class="muted">No events match.</td></tr>` : ''}</tbody></table></div>
</section>`,
  };
}
