/**
 * The Devices page's registration tokens (admins only): the list (group, uses left of total,
 * expiry, who made each, its state), a form to create one (shown once), revoke with a
 * confirmation. Each is the API call of `idvctl device token create|list|revoke`.
 */
import { parseDuration } from '../../../protocol/duration.js';
import { csrfField, h, type Html } from '../../portal/html.js';
import { ago, when } from '../layout.js';
import { ApiRefused, enc, registerCommand, type Action, type Json, type PageCtx } from '../kit.js';
import { shownOnce } from './users.js';

const STATE_BADGE: Record<string, string> = {
  active: 'ok',
  'used up': '',
  expired: '',
  revoked: 'bad',
};

function tokenRow(t: Json, csrf: Html, now: number): Html {
  const id = String(t.id);
  const left = Number(t.usesLeft);
  const state = String(t.state);
  return h`<tr><td><code>${id}</code></td>
<td>${String(t.deviceGroup)}</td>
<td class="num">${String(left)} of ${String(t.uses)}</td>
<td>${state === 'active' ? h`<time datetime="${String(t.expiresAt)}">${when(String(t.expiresAt))}</time>` : h`<span class="muted">${when(String(t.expiresAt))}</span>`}</td>
<td>${ago(t.createdAt as string, now)}<br><span class="muted">${String(t.createdBy || '—')}</span></td>
<td><span class="badge ${STATE_BADGE[state] ?? ''}">${state}</span></td>
<td>${
    state === 'active'
      ? h`<form method="post" action="/admin/devices/tokens/${enc(id)}/revoke" class="inline">${csrf}<details><summary>Revoke…</summary><p>No machine can register with it after; devices it already registered stay.</p><label><input type="checkbox" name="confirm" value="yes" required> Revoke token ${id}</label><button type="submit" class="small danger">Revoke token</button></details></form>`
      : ''
  }</td></tr>`;
}

/** The tokens card and the create form, for an admin. */
export async function tokensSection(c: PageCtx): Promise<Html> {
  const { tokens } = (await c.api('GET', '/v1/device-tokens')) as { tokens: Json[] };
  const csrf = csrfField(c.viewer.csrf);
  const active = tokens.filter((t) => t.state === 'active').length;
  return h`<section class="card" aria-labelledby="tokens-h">
<h2 id="tokens-h">Registration tokens <span class="muted">· ${String(active)} active</span></h2>
${
  tokens.length === 0
    ? h`<p class="muted">No registration token yet. Create one below; it is shown once.</p>`
    : h`<div class="scroll" tabindex="0" role="region" aria-labelledby="tokens-h"><table>
<thead><tr><th scope="col">Token id</th><th scope="col">Group</th><th scope="col" class="num">Uses left</th><th scope="col">Expires</th><th scope="col">Created</th><th scope="col">State</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>${tokens.map((t) => tokenRow(t, csrf, c.now))}</tbody></table></div>
<p class="hint">The token itself is shown only when it is made; the server keeps a hash. Used-up, expired and revoked tokens stay listed for 30 days past their expiry.</p>`
}
</section>
<section class="card" aria-labelledby="token-h"><h2 id="token-h">New registration token</h2>
<p>Agents register once with a token, put in a file only root can read:</p><code class="cmd">${registerCommand(c.serverUrl)}</code>
<form method="post" action="/admin/devices/tokens">${csrf}
<div class="grid-form">
<div class="field"><label for="t-group">Device group</label><input type="text" id="t-group" name="deviceGroup" value="default" maxlength="64"></div>
<div class="field"><label for="t-uses">Uses</label><input type="number" id="t-uses" name="uses" value="1" min="1" max="100000" aria-describedby="t-uses-hint"><p class="hint" id="t-uses-hint">How many machines may register with it.</p></div>
<div class="field"><label for="t-ttl">Valid for</label><input type="text" id="t-ttl" name="ttl" value="24h" aria-describedby="t-ttl-hint"><p class="hint" id="t-ttl-hint">Like 30m, 24h, 7d.</p></div>
</div>
<button type="submit">Create token</button></form></section>`;
}

export const TOKEN_ACTIONS: Action[] = [
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
          h`<p>Token <code>${String(r.id)}</code> for device group <strong>${String(r.deviceGroup)}</strong>: ${String(r.uses)} ${r.uses === 1 ? 'use' : 'uses'}, valid until ${when(String(r.expiresAt))}. Put it in a file only root can read on each machine, then run as root:</p><code class="cmd">${registerCommand(c.serverUrl)}</code>`,
          h`<p><code class="secret" id="token">${String(r.token)}</code></p>`,
          '/admin/devices',
        ),
      };
    },
  },
  {
    route: '/admin/devices/tokens/:id/revoke',
    back: () => '/admin/devices',
    run: async (p, f, c) => {
      if (f.confirm !== 'yes')
        throw new ApiRefused(400, 'CONFIRM', 'Nothing was revoked: tick the confirmation first.');
      const t = await c.api('POST', `/v1/device-tokens/${enc(p.id ?? '')}/revoke`, {});
      return {
        redirect: '/admin/devices',
        notice: `Revoked registration token ${String(t.id)}: no machine can register with it now.`,
      };
    },
  },
];
