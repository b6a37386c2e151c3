/**
 * Policy: one form per device group with every policy field, read and checked exactly as
 * `idvctl policy set` does (server/ctl/policy.ts: the same flags, meanings, parsing and ranges),
 * showing the defaults and how many devices the change goes to; after a change, the push's
 * progress (acked / total) follows live.
 */
import { IdvError } from '../../../protocol/errors.js';
import { DEFAULT_POLICY, type Policy } from '../../../protocol/policy.js';
import { allowed, FLAGS, kindOf, parseValue, shown } from '../../ctl/policy.js';
import { csrfField, h } from '../../portal/html.js';
import { ApiRefused, enc, type Action, type Json, type PageCtx, type Rendered } from '../kit.js';

const NUM = /^[0-9]{1,15}$/;

/** A field's name in words ("maxAttempts" → "Max attempts"; the unit is in its hint). */
export function fieldName(field: string): string {
  if (field === 'mfa') return 'MFA';
  const words = field
    .replace(/(Seconds|Days)$/, '')
    .replace(/([A-Z])/g, ' $1')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export async function policyPage(c: PageCtx): Promise<Rendered> {
  const { deviceGroups } = (await c.api('GET', '/v1/groups')) as { deviceGroups: Json[] };
  const group = c.query.get('group') || 'default';
  const r = (await c.api('GET', `/v1/policies/${enc(group)}`)) as {
    policy: Policy;
    explicit: boolean;
  };
  const devices = Number(deviceGroups.find((g) => g.name === group)?.devices ?? 0);
  const revision = c.query.get('revision') ?? '';
  const admin = c.viewer.role === 'admin';
  const names = [...new Set(['default', ...deviceGroups.map((g) => String(g.name))])];
  const fields = Object.entries(FLAGS).map(([flag, { field, means }]) => {
    const k = kindOf(field);
    const id = `p-${flag}`;
    const value = shown(field, r.policy[field]).replace(/^''$/, '');
    const def = shown(field, DEFAULT_POLICY[field]);
    const changed = value !== def.replace(/^''$/, '');
    const control =
      k.kind === 'enum'
        ? h`<select id="${id}" name="${flag}" aria-describedby="${id}-hint"${admin ? '' : h` disabled`}>${k.values.map((v) => h`<option value="${v}"${v === value ? h` selected` : ''}>${v}</option>`)}</select>`
        : h`<input type="text" id="${id}" name="${flag}" value="${value}" aria-describedby="${id}-hint"${admin ? '' : h` readonly`}>`;
    return h`<div class="field"><label for="${id}">${fieldName(field)} <code class="key">${field}</code>${changed ? h` <span class="badge">not default</span>` : ''}</label>${control}
<p class="hint" id="${id}-hint">${means[0]?.toUpperCase()}${means.slice(1)}; ${allowed(field)}.</p><p class="default">Default: ${def}</p></div>`;
  });
  return {
    title: `Policy · ${group}`,
    live: NUM.test(revision),
    body: h`<h1>Policy</h1>
<form method="get" action="/admin/policy" class="card filters" aria-label="Device group">
<div><label for="g">Device group</label><select id="g" name="group">${names.map((n) => h`<option value="${n}"${n === group ? h` selected` : ''}>${n}</option>`)}</select></div>
<div><button type="submit" class="small">Show</button></div></form>
${
  NUM.test(revision)
    ? h`<section class="card" aria-labelledby="push-h" data-live="rollout" data-url="/admin/live/rollout?group=${enc(group)}&amp;revision=${revision}">
<h2 id="push-h">Push of the change</h2>
<progress max="${Math.max(1, devices)}" value="0" aria-labelledby="push-h"></progress>
<p data-text role="status" aria-live="polite">Waiting for the ${devices} ${devices === 1 ? 'device' : 'devices'} of ${group} to apply it…</p>
<p class="hint">Devices that are offline apply it when they reconnect.</p></section>`
    : ''
}
<form method="post" action="/admin/policy/${enc(group)}" class="card" aria-labelledby="form-h">
${csrfField(c.viewer.csrf)}
<h2 id="form-h">Device group ${group} ${r.explicit ? '' : h`<span class="badge">defaults</span>`}</h2>
<p>A change is pushed at once to the <strong>${devices} ${devices === 1 ? 'device' : 'devices'}</strong> of this group${devices === 0 ? ' (none yet; devices that join get it)' : ''}.</p>
<div class="grid-form policy-fields">${fields}</div>
${admin ? h`<button type="submit">Save and push to ${devices} ${devices === 1 ? 'device' : 'devices'}</button>` : h`<p class="muted">The helpdesk role can view the policy but not change it.</p>`}
</form>`,
  };
}

export const POLICY_ACTIONS: Action[] = [
  {
    route: '/admin/policy/:group',
    back: (p) => `/admin/policy?group=${enc(p.group ?? '')}`,
    run: async (p, f, c) => {
      const group = p.group ?? '';
      const { policy } = (await c.api('GET', `/v1/policies/${enc(group)}`)) as { policy: Policy };
      // Only what the admin changed goes into the patch (and the audit log).
      const patch: Json = {};
      for (const [flag, { field }] of Object.entries(FLAGS)) {
        const text = f[flag];
        if (text === undefined) continue;
        if (text.trim() === shown(field, policy[field]).replace(/^''$/, '')) continue;
        try {
          patch[field] = parseValue(flag, field, text.trim() === '' ? '' : text.trim());
        } catch (err) {
          if (err instanceof IdvError)
            throw new ApiRefused(400, err.code, `${field}: ${err.message.replace(/^--\S+ /, '')}`);
          throw err;
        }
      }
      if (Object.keys(patch).length === 0)
        return { redirect: `/admin/policy?group=${enc(group)}`, notice: 'Nothing changed.' };
      const r = await c.api('PATCH', `/v1/policies/${enc(group)}`, patch);
      return {
        redirect: `/admin/policy?group=${enc(group)}&revision=${String(r.revision)}`,
        notice: `Saved ${Object.keys(patch).join(', ')}; pushed to ${String(r.pushedTo)} ${r.pushedTo === 1 ? 'device' : 'devices'}.`,
      };
    },
  },
];
