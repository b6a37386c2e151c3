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
import {
  ApiRefused,
  enc,
  type Action,
  type ActionResult,
  type Json,
  type PageCtx,
  type Rendered,
} from '../kit.js';

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

/** A policy form sent back: what was typed in each field, and why a field was refused. */
export interface PolicyDraft {
  values: Record<string, string>;
  errors: Record<string, string>;
}

/** A field's hint for the web form: an empty field, not the shell's `''`, means none. */
function hintOf(means: string): string {
  return capital(means.replace(/''/g, 'empty'));
}

function capital(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/** The value as the form shows it (an empty list is an empty field). */
function formValue(field: keyof Policy, value: unknown): string {
  return shown(field, value).replace(/^''$/, '');
}

export async function policyPage(c: PageCtx, draft?: PolicyDraft): Promise<Rendered> {
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
    const stored = formValue(field, r.policy[field]);
    const value = draft?.values[flag] ?? stored;
    const def = shown(field, DEFAULT_POLICY[field]);
    const changed = stored !== def.replace(/^''$/, '');
    const error = draft?.errors[flag];
    const described = error ? `${id}-error ${id}-hint` : `${id}-hint`;
    const invalid = error ? h` aria-invalid="true"` : '';
    const choices = k.kind === 'enum' ? k.values : k.kind === 'bool' ? ['on', 'off'] : null;
    const control = choices
      ? h`<select id="${id}" name="${flag}" aria-describedby="${described}"${invalid}${admin ? '' : h` disabled`}>${choices.map((v) => h`<option value="${v}"${v === value ? h` selected` : ''}>${v}</option>`)}</select>`
      : h`<input type="text" id="${id}" name="${flag}" value="${value}" aria-describedby="${described}"${invalid}${admin ? '' : h` readonly`}>`;
    return h`<div class="field${error ? ' invalid' : ''}"><label for="${id}">${fieldName(field)} <code class="key">${field}</code>${changed ? h` <span class="badge">not default</span>` : ''}</label>${control}
${error ? h`<p class="field-error" id="${id}-error">${capital(error)}</p>` : ''}<p class="hint" id="${id}-hint">${hintOf(means)}; ${allowed(field)}.</p><p class="default">Default: ${def === "''" ? 'empty' : def}</p></div>`;
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
<form method="post" action="/admin/policy/${enc(group)}" class="card" aria-labelledby="form-h" novalidate>
${csrfField(c.viewer.csrf)}
<h2 id="form-h">Device group ${group} ${r.explicit ? '' : h`<span class="badge">defaults</span>`}</h2>
<p>A change is pushed at once to the <strong>${devices} ${devices === 1 ? 'device' : 'devices'}</strong> of this group${devices === 0 ? ' (none yet; devices that join get it)' : ''}.</p>
<div class="grid-form policy-fields">${fields}</div>
${admin ? h`<button type="submit">Save and push to ${devices} ${devices === 1 ? 'device' : 'devices'}</button>` : h`<p class="muted">The helpdesk role can view the policy but not change it.</p>`}
</form>`,
  };
}

/** The policy page again with what was typed, the refused fields marked (nothing was saved). */
async function refusedForm(c: PageCtx, group: string, draft: PolicyDraft): Promise<ActionResult> {
  const named = Object.entries(draft.errors).map(([flag, why]) => {
    const field = FLAGS[flag]?.field;
    return field ? `${fieldName(field)}: ${why}` : why;
  });
  const page = await policyPage({ ...c, query: new URLSearchParams({ group }) }, draft);
  return {
    page,
    status: 400,
    current: '/admin/policy',
    alert: {
      kind: 'error',
      text: `Nothing was saved: ${named.join('; ')}. What you typed is still in the form.`,
    },
  };
}

/** The flag a server refusal names (`policy: lockoutSeconds: ...`), if it names one. */
function flagOfMessage(message: string): string | undefined {
  return Object.entries(FLAGS).find(([, { field }]) =>
    new RegExp(`\\b${field}\\b`).test(message),
  )?.[0];
}

export const POLICY_ACTIONS: Action[] = [
  {
    route: '/admin/policy/:group',
    back: (p) => `/admin/policy?group=${enc(p.group ?? '')}`,
    run: async (p, f, c) => {
      const group = p.group ?? '';
      const { policy } = (await c.api('GET', `/v1/policies/${enc(group)}`)) as { policy: Policy };
      // Only what the admin changed goes into the patch (and the audit log); every field is
      // checked, and a refused one is shown again with all that was typed.
      const patch: Json = {};
      const draft: PolicyDraft = { values: {}, errors: {} };
      for (const [flag, { field }] of Object.entries(FLAGS)) {
        const text = f[flag];
        if (text === undefined) continue;
        draft.values[flag] = text;
        if (text.trim() === formValue(field, policy[field])) continue;
        try {
          patch[field] = parseValue(flag, field, text.trim());
        } catch (err) {
          if (!(err instanceof IdvError)) throw err;
          draft.errors[flag] = err.message.replace(/^--\S+:? /, '');
        }
      }
      if (Object.keys(draft.errors).length > 0) return refusedForm(c, group, draft);
      if (Object.keys(patch).length === 0)
        return { redirect: `/admin/policy?group=${enc(group)}`, notice: 'Nothing changed.' };
      let r: Json;
      try {
        r = await c.api('PATCH', `/v1/policies/${enc(group)}`, patch);
      } catch (err) {
        if (!(err instanceof ApiRefused) || err.status !== 400) throw err;
        const flag = flagOfMessage(err.message) ?? '';
        let text = err.message.replace(/^policy: /, '');
        for (const { field } of Object.values(FLAGS))
          text = text.replace(
            new RegExp(`\\b${field}\\b:? ?`, 'g'),
            flag ? '' : `${fieldName(field)} `,
          );
        draft.errors[flag] = text;
        return refusedForm(c, group, draft);
      }
      const saved = Object.keys(patch).map((k) => fieldName(k));
      return {
        redirect: `/admin/policy?group=${enc(group)}&revision=${String(r.revision)}`,
        notice: `Saved ${saved.join(', ')}; pushed to ${String(r.pushedTo)} ${r.pushedTo === 1 ? 'device' : 'devices'}.`,
      };
    },
  },
];
