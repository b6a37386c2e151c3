/** Audit: every admin action (who, when, from where, what changed), newest first. */
import { h } from '../../portal/html.js';
import { when } from '../layout.js';
import type { Json, PageCtx, Rendered } from '../kit.js';

function value(v: unknown): string {
  if (Array.isArray(v)) return v.length ? v.join(',') : '(none)';
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

/** The request's fields; a field whose old value was recorded (`was`) as `old → new`. */
function detail(d: Json): string {
  const was = (d.was ?? {}) as Json;
  const parts = Object.entries(d)
    .filter(([k]) => k !== 'was')
    .map(([k, v]) =>
      Object.hasOwn(was, k) ? `${k}: ${value(was[k])} → ${value(v)}` : `${k}=${value(v)}`,
    );
  return parts.join('  ') || '—';
}

export async function auditPage(c: PageCtx): Promise<Rendered> {
  const q = (k: string) => c.query.get(k) ?? '';
  const params = new URLSearchParams({ limit: '100' });
  if (/^[0-9]{1,15}$/.test(q('before'))) params.set('before', q('before'));
  if (q('actor')) params.set('actor', q('actor'));
  if (q('action')) params.set('action', q('action'));
  const { entries } = (await c.api('GET', `/v1/audit?${params}`)) as { entries: Json[] };
  const older = entries.length === 100 ? entries.at(-1)?.seq : undefined;
  const more = new URLSearchParams(params);
  more.delete('limit');
  if (older !== undefined) more.set('before', String(older));
  return {
    title: 'Audit log',
    body: h`<h1>Audit log</h1>
<form method="get" action="/admin/audit" class="card filters" role="search" aria-label="Filter the audit log">
<div><label for="f-actor">Who</label><input type="text" id="f-actor" name="actor" value="${q('actor')}" placeholder="admin:alice"></div>
<div><label for="f-action">Action</label><input type="text" id="f-action" name="action" value="${q('action')}" placeholder="policy.set"></div>
<div><button type="submit" class="small">Filter</button> <a href="/admin/audit">Clear</a></div></form>
<section class="card" aria-labelledby="list-h"><h2 id="list-h">Admin actions <span class="muted">(newest first; also <code>idvctl audit</code>)</span></h2>
<div class="scroll" tabindex="0" role="region" aria-labelledby="list-h"><table class="stack">
<thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">From</th><th scope="col">Action</th><th scope="col">On</th><th scope="col">What changed</th><th scope="col">Result</th></tr></thead>
<tbody>${entries.map(
      (e) =>
        h`<tr><td class="when" data-label="When">${when(String(e.at))}</td><td data-label="Who">${String(e.actor)}${e.role && e.role !== '-' ? h` <span class="badge">${String(e.role)}</span>` : ''}</td><td data-label="From">${String(e.source)}</td><td data-label="Action"><code>${String(e.action)}</code></td><td data-label="On">${String(e.target) || '—'}</td><td class="mono" data-label="What changed">${detail(e.detail as Json)}</td><td data-label="Result">${e.result === 'ok' ? h`<span class="badge ok">ok</span>` : h`<span class="badge ${String(e.result).startsWith('ok') ? 'ok' : 'bad'}">${String(e.result)}</span>`}</td></tr>`,
    )}${entries.length === 0 ? h`<tr><td colspan="7" class="muted">Nothing recorded yet.</td></tr>` : ''}</tbody></table></div>
${older !== undefined ? h`<p><a href="/admin/audit?${more.toString()}">Older entries</a></p>` : ''}
</section>`,
  };
}
