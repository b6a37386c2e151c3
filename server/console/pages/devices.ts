/**
 * Devices: name, group, OS and version, agent version, last seen, revision acked (behind or
 * current); revoke; registration tokens (create with uses and expiry, shown once).
 */
import { parseDuration } from '../../../protocol/duration.js';
import { csrfField, h } from '../../portal/html.js';
import { ago } from '../layout.js';
import { ApiRefused, enc, type Action, type Json, type PageCtx, type Rendered } from '../kit.js';
import { shownOnce } from './users.js';

export async function devicesPage(c: PageCtx): Promise<Rendered> {
  const [{ devices }, health, { deviceGroups }] = (await Promise.all([
    c.api('GET', '/v1/devices'),
    c.api('GET', '/healthz'),
    c.api('GET', '/v1/groups'),
  ])) as [{ devices: Json[] }, { revision: number }, { deviceGroups: Json[] }];
  const admin = c.viewer.role === 'admin';
  const group = c.query.get('group') ?? '';
  const shown = devices.filter((d) => !group || d.deviceGroup === group);
  const csrf = csrfField(c.viewer.csrf);
  return {
    title: 'Devices',
    body: h`<h1>Devices</h1>
<form method="get" action="/admin/devices" class="card filters" aria-label="Filter devices">
<div><label for="f-group">Device group</label><select id="f-group" name="group"><option value="">any</option>${deviceGroups.map((g) => h`<option value="${String(g.name)}"${g.name === group ? h` selected` : ''}>${String(g.name)} (${String(g.devices)})</option>`)}</select></div>
<div><button type="submit" class="small">Filter</button></div></form>
<section class="card" aria-labelledby="list-h">
<h2 id="list-h">${shown.length} ${shown.length === 1 ? 'device' : 'devices'} <span class="muted">· server revision ${health.revision}</span></h2>
<div class="scroll"><table>
<thead><tr><th scope="col">Name</th><th scope="col">Group</th><th scope="col">OS</th><th scope="col">Agent</th><th scope="col">Last seen</th><th scope="col">Revision</th><th scope="col">State</th>${admin ? h`<th scope="col"><span class="sr-only">Actions</span></th>` : ''}</tr></thead>
<tbody>${shown.map((d) => {
      const f = (d.facts ?? {}) as Json;
      const behind = Number(d.revision) < health.revision;
      return h`<tr><td><strong>${String(d.name)}</strong><br><code class="muted">${String(d.id)}</code></td>
<td>${String(d.deviceGroup)}</td>
<td>${String(f.os ?? '')} ${String(f.osVersion ?? '')}</td>
<td>${String(d.agentVersion)}</td>
<td>${d.online ? h`<span class="badge ok">online</span>` : ago(d.lastSeenAt as string | null, c.now)}</td>
<td class="num">${String(d.revision)} ${d.revoked ? '' : behind ? h`<span class="badge warn">behind</span>` : h`<span class="badge ok">current</span>`}</td>
<td>${d.revoked ? h`<span class="badge bad">revoked</span>` : 'active'}</td>
${
  admin
    ? h`<td>${
        d.revoked
          ? ''
          : h`<form method="post" action="/admin/devices/${enc(String(d.id))}/revoke" class="inline">${csrf}<details><summary>Revoke…</summary><p>Its connection closes at once and it is refused after; its users can no longer log in there with a code.</p><label><input type="checkbox" name="confirm" value="yes" required> Revoke ${String(d.name)}</label><br><button type="submit" class="small danger">Revoke</button></details></form>`
      }</td>`
    : ''
}</tr>`;
    })}</tbody></table></div>
${shown.length === 0 ? h`<p class="muted">No device yet. Create a registration token below, then run <code>idv-agent register</code> on the machine.</p>` : ''}
</section>
${
  admin
    ? h`<section class="card" aria-labelledby="token-h"><h2 id="token-h">New registration token</h2>
<p>Agents register once with a token: <code>idv-agent register --server URL --token TOKEN</code>.</p>
<form method="post" action="/admin/devices/tokens">${csrf}
<div class="grid-form">
<div class="field"><label for="t-group">Device group</label><input type="text" id="t-group" name="deviceGroup" value="default" maxlength="64"></div>
<div class="field"><label for="t-uses">Uses</label><input type="number" id="t-uses" name="uses" value="1" min="1" max="100000"></div>
<div class="field"><label for="t-ttl">Valid for</label><input type="text" id="t-ttl" name="ttl" value="24h" aria-describedby="t-ttl-hint"><p class="hint" id="t-ttl-hint">Like 30m, 24h, 7d.</p></div>
</div>
<button type="submit">Create token</button></form></section>`
    : ''
}`,
  };
}

export const DEVICE_ACTIONS: Action[] = [
  {
    route: '/admin/devices/tokens',
    back: () => '/admin/devices',
    run: async (_p, f, c) => {
      const ttl = parseDuration(f.ttl ?? '24h');
      if (ttl === null)
        throw new ApiRefused(400, 'USAGE', 'Valid for: a duration like 30m, 24h, 7d.');
      const uses = /^[0-9]{1,6}$/.test(f.uses ?? '') ? Number(f.uses) : NaN;
      const r = await c.api('POST', '/v1/device-tokens', {
        deviceGroup: (f.deviceGroup ?? '').trim() || 'default',
        uses,
        ttlSeconds: ttl,
      });
      return {
        page: shownOnce(
          'Registration token',
          h`<p>For device group <strong>${String(r.deviceGroup)}</strong>, ${String(r.uses)} ${r.uses === 1 ? 'use' : 'uses'}, until ${String(r.expiresAt)}. On each machine, as root:</p>`,
          h`<p><code class="secret" id="token">${String(r.token)}</code></p>`,
          '/admin/devices',
        ),
      };
    },
  },
  {
    route: '/admin/devices/:id/revoke',
    back: () => '/admin/devices',
    run: async (p, f, c) => {
      if (f.confirm !== 'yes')
        throw new ApiRefused(400, 'CONFIRM', 'Nothing was revoked: tick the confirmation first.');
      const d = await c.api('POST', `/v1/devices/${enc(p.id ?? '')}/revoke`, {});
      return { redirect: '/admin/devices', notice: `Revoked ${String(d.name)}.` };
    },
  },
];
