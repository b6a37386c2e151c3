/**
 * Devices: name, group, OS and version, agent version, last seen, revision acked (behind or
 * current); revoke; and, for admins, the registration tokens (device-tokens.ts).
 */
import { csrfField, h } from '../../portal/html.js';
import { ago } from '../layout.js';
import { ApiRefused, enc, type Action, type Json, type PageCtx, type Rendered } from '../kit.js';
import { TOKEN_ACTIONS, tokensSection } from './device-tokens.js';

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
<div class="scroll" tabindex="0" role="region" aria-labelledby="list-h"><table>
<thead><tr><th scope="col">Name</th><th scope="col">Group</th><th scope="col">OS</th><th scope="col">Agent</th><th scope="col">Last seen</th><th scope="col">Revision</th><th scope="col">State</th>${admin ? h`<th scope="col"><span class="sr-only">Actions</span></th>` : ''}</tr></thead>
<tbody>${shown.map((d) => {
      const f = (d.facts ?? {}) as Json;
      const behind = Number(d.revision) < health.revision;
      return h`<tr><td><strong>${String(d.name)}</strong><br><code class="muted">${String(d.id)}</code></td>
<td>${String(d.deviceGroup)}</td>
<td>${String(f.os ?? '')} ${String(f.osVersion ?? '')}</td>
<td>${String(d.agentVersion)}</td>
<td>${d.online ? h`<span class="badge ok">online</span>` : ago(d.lastSeenAt as string | null, c.now)}</td>
<td class="num">${d.lastSeenAt === null && !d.online ? h`<span class="muted">not connected yet</span>` : h`${String(d.revision)} ${d.revoked ? '' : behind ? h`<span class="badge warn">behind</span>` : h`<span class="badge ok">current</span>`}`}</td>
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
${shown.length === 0 ? h`<p class="muted">${group ? `No device in group ${group}.` : 'No device yet.'}${admin ? h` Create a registration token below, then run <code>idv-agent register</code> on the machine.` : ''}</p>` : ''}
</section>
${admin ? await tokensSection(c) : ''}`,
  };
}

export const DEVICE_ACTIONS: Action[] = [
  ...TOKEN_ACTIONS,
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
