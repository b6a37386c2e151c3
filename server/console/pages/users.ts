/**
 * Users: search and filters (group, status, enrolled, locked), add, and per user: suspend /
 * resume, groups, enrollment link, reset MFA (confirmed, saying what happens on every device),
 * unlock (everywhere or one device), recovery codes left and regenerate. Each action is the
 * API call of the matching idvctl command.
 */
import { csrfField, h, type Html } from '../../portal/html.js';
import { ago, when } from '../layout.js';
import {
  ApiRefused,
  enc,
  listField,
  type Action,
  type Json,
  type PageCtx,
  type Rendered,
} from '../kit.js';
import { graceEnds, graceMs, lockedNow } from './overview.js';

const DAY = 86_400_000;

function form(c: PageCtx, action: string, body: Html, cls = 'inline'): Html {
  return h`<form method="post" action="${action}" class="${cls}">${csrfField(c.viewer.csrf)}${body}</form>`;
}

function selectOf(name: string, label: string, value: string, options: [string, string][]): Html {
  return h`<div><label for="f-${name}">${label}</label><select id="f-${name}" name="${name}">${options.map(
    ([v, t]) => h`<option value="${v}"${v === value ? h` selected` : ''}>${t}</option>`,
  )}</select></div>`;
}

function mfaBadge(u: Json): Html {
  return u.enrolled
    ? h`<span class="badge ok">enrolled</span>`
    : u.enrollmentPending
      ? h`<span class="badge warn">link sent</span>`
      : h`<span class="badge warn">not enrolled</span>`;
}

/** For a user not enrolled: until when logins go without a code (the default group's grace). */
function graceNote(u: Json, grace: number, now: number): Html {
  if (u.enrolled || u.graceStartedAt === undefined) return h``;
  // null: an MFA reset ended the grace.
  if (u.graceStartedAt === null) return h`<br><span class="badge bad">grace ended by reset</span>`;
  const ends = graceEnds(u, grace);
  return ends > now
    ? h`<br><span class="muted nowrap">grace until ${when(ends)}</span>`
    : h`<br><span class="badge bad">grace ran out</span>`;
}

export async function usersPage(c: PageCtx): Promise<Rendered> {
  const q = (k: string) => c.query.get(k) ?? '';
  const [{ users }, { devices }, { events }] = (await Promise.all([
    c.api('GET', '/v1/users'),
    c.api('GET', '/v1/devices'),
    c.api('GET', `/v1/events?since=${c.now - 30 * DAY}&limit=10000`),
  ])) as [{ users: Json[] }, { devices: Json[] }, { events: Json[] }];
  const { policy } = (await c.api('GET', '/v1/policies/default')) as { policy: Json };
  const locked = lockedNow(events, () => Number(policy.lockoutSeconds) * 1000, c.now);
  const grace = graceMs(policy);
  const lockedOn = new Map<string, Json[]>();
  for (const e of locked)
    lockedOn.set(String(e.user), [...(lockedOn.get(String(e.user)) ?? []), e]);
  const groups = [...new Set(users.flatMap((u) => u.groups as string[]))].sort();
  const text = q('q').toLowerCase();
  const shown = users.filter(
    (u) =>
      (!text || String(u.name).toLowerCase().includes(text)) &&
      (!q('group') || (u.groups as string[]).includes(q('group'))) &&
      (!q('status') || u.status === q('status')) &&
      (!q('enrolled') || String(u.enrolled) === q('enrolled')) &&
      (!q('locked') || lockedOn.has(String(u.name)) === (q('locked') === 'true')),
  );
  const selected = q('user') ? users.find((u) => u.name === q('user')) : undefined;
  const admin = c.viewer.role === 'admin';
  const mail = admin && (await c.api('GET', '/v1/mail')).configured === true;
  return {
    title: 'Users',
    body: h`<h1>Users</h1>
<form method="get" action="/admin/users" class="card filters" role="search" aria-label="Find users">
<div><label for="f-q">Name</label><input type="search" id="f-q" name="q" value="${q('q')}" autocomplete="off"></div>
${selectOf('group', 'Group', q('group'), [['', 'any'], ...groups.map((g): [string, string] => [g, g])])}
${selectOf('status', 'Status', q('status'), [
  ['', 'any'],
  ['active', 'active'],
  ['suspended', 'suspended'],
])}
${selectOf('enrolled', 'Authenticator', q('enrolled'), [
  ['', 'any'],
  ['true', 'enrolled'],
  ['false', 'not enrolled'],
])}
${selectOf('locked', 'Locked', q('locked'), [
  ['', 'any'],
  ['true', 'locked now'],
  ['false', 'not locked'],
])}
<div><button type="submit" class="small">Filter</button> <a href="/admin/users">Clear</a></div>
</form>
${selected ? await userCard(c, selected, devices, lockedOn.get(String(selected.name)) ?? []) : ''}
<section class="card" aria-labelledby="list-h">
<h2 id="list-h">${shown.length} of ${users.length} ${users.length === 1 ? 'user' : 'users'}</h2>
<div class="scroll"><table>
<thead><tr><th scope="col">Name</th><th scope="col">Groups</th><th scope="col">Status</th><th scope="col">Authenticator</th><th scope="col">Locked</th><th scope="col">Added</th></tr></thead>
<tbody>${shown.map(
      (u) => h`<tr><td><a href="/admin/users?user=${enc(String(u.name))}">${String(u.name)}</a></td>
<td>${(u.groups as string[]).join(', ') || h`<span class="muted">—</span>`}</td>
<td>${u.status === 'active' ? 'active' : h`<span class="badge bad">suspended</span>`}</td>
<td>${mfaBadge(u)}${graceNote(u, grace, c.now)}</td>
<td>${lockedOn.has(String(u.name)) ? h`<span class="badge bad">on ${lockedOn.get(String(u.name))?.length ?? 0}</span>` : h`<span class="muted">no</span>`}</td>
<td>${ago(String(u.createdAt), c.now)}</td></tr>`,
    )}</tbody></table></div>
${shown.length === 0 ? h`<p class="muted">No user matches these filters.</p>` : ''}
</section>
${
  admin
    ? h`<section class="card" aria-labelledby="add-h"><h2 id="add-h">Add a user</h2>
${form(
  c,
  '/admin/users',
  h`<div class="grid-form"><div class="field"><label for="add-name">Login name</label><input type="text" id="add-name" name="name" required maxlength="64" autocapitalize="off" spellcheck="false"></div>
<div class="field"><label for="add-groups">User groups</label><input type="text" id="add-groups" name="groups" aria-describedby="add-groups-hint"><p class="hint" id="add-groups-hint">Comma-separated, optional.</p></div>
${mail ? h`<div class="field"><label for="add-email">Email</label><input type="email" id="add-email" name="email" maxlength="254" autocomplete="off" aria-describedby="add-email-hint"><p class="hint" id="add-email-hint">Optional: the enrollment link is mailed there too.</p></div>` : ''}</div>
<p class="hint">Next, the enrollment link is shown once, for you to send${mail ? ' (or mailed, with an email)' : ''}.</p>
<button type="submit">Add user and show the enrollment link</button>`,
  '',
)}</section>`
    : ''
}`,
  };
}

async function userCard(c: PageCtx, u: Json, devices: Json[], locked: Json[]): Promise<Html> {
  const name = String(u.name);
  const base = `/admin/users/${enc(name)}`;
  const { remaining } = (await c.api('GET', `/v1/users/${enc(name)}/recovery-codes`)) as {
    remaining: number;
  };
  const admin = c.viewer.role === 'admin';
  const live = devices.filter((d) => !d.revoked);
  return h`<section class="card" aria-labelledby="user-h">
<h2 id="user-h">${name}</h2>
<dl class="facts">
<dt>Status</dt><dd>${String(u.status)}</dd>
<dt>Groups</dt><dd>${(u.groups as string[]).join(', ') || '—'}</dd>
<dt>Authenticator</dt><dd>${mfaBadge(u)}${u.enrolledAt ? h` since ${when(String(u.enrolledAt))}` : ''}</dd>
<dt>Recovery codes left</dt><dd>${remaining}</dd>
<dt>Locked</dt><dd>${locked.length ? locked.map((e) => h`<span class="badge bad">${String(e.deviceName ?? e.device)}</span> `) : 'no'}</dd>
</dl>
<h3>Unlock</h3>
<div class="actions">
${form(c, `${base}/unlock`, h`<button type="submit" class="small">Unlock on every device</button>`)}
${
  live.length
    ? form(
        c,
        `${base}/unlock`,
        h`<label class="sr-only" for="unlock-device">Device</label><select id="unlock-device" name="device">${live.map((d) => h`<option value="${String(d.id)}">${String(d.name)}</option>`)}</select> <button type="submit" class="small secondary">Unlock on this device</button>`,
      )
    : ''
}
</div>
${helpdeskForm(c, base, name, u, live)}
<h3>Authenticator</h3>
<div class="actions">
${form(c, `${base}/enroll`, h`<button type="submit" class="small secondary">${u.enrolled ? 'New enrollment link (the current app keeps working until it is used)' : 'Show a new enrollment link'}</button>`)}
${u.enrolled ? form(c, `${base}/recovery-codes`, h`<button type="submit" class="small secondary">Regenerate recovery codes</button>`) : ''}
</div>
${form(
  c,
  `${base}/reset-mfa`,
  h`<details><summary>Reset the authenticator…</summary>
<p>Resetting removes ${name}'s authenticator app and all recovery codes <strong>on every device at once</strong>: codes from the old app stop working at the next login everywhere (devices that are offline apply it when they reconnect). ${name} gets a new enrollment link. <strong>The reset ends the enrollment grace: until the new app is set up, ${name} cannot log in where a code is needed.</strong></p>
<p><label><input type="checkbox" name="grace" value="yes"> Start a new enrollment grace period instead: ${name} logs in without a code until it runs out. Not for an account that may be compromised.</label></p>
<p><label><input type="checkbox" name="confirm" value="yes" required> I understand: ${name}'s current codes stop working on every device</label></p>
<button type="submit" class="small danger">Reset the authenticator</button></details>`,
  '',
)}
${
  admin
    ? h`<h3>Account</h3>
<div class="actions">
${form(c, `${base}/${u.status === 'active' ? 'suspend' : 'resume'}`, h`<button type="submit" class="small ${u.status === 'active' ? 'danger secondary' : ''}">${u.status === 'active' ? 'Suspend (refused at every login)' : 'Resume'}</button>`)}
</div>
${form(
  c,
  `${base}/remove`,
  h`<details><summary>Remove ${name}…</summary>
<p>The server forgets ${name}: the account, groups, authenticator app and recovery codes, on every device at once. Devices then treat ${name} as a user the server does not know (policy <code>unknownUsers</code>). Past login events stay.</p>
<p><label><input type="checkbox" name="confirm" value="yes" required> Remove ${name}</label></p>
<button type="submit" class="small danger">Remove the user</button></details>`,
  '',
)}
${form(
  c,
  `${base}/groups`,
  h`<label for="groups">User groups</label><input type="text" id="groups" name="groups" value="${(u.groups as string[]).join(', ')}"> <button type="submit" class="small">Save groups</button>`,
  '',
)}`
    : ''
}
</section>`;
}

/**
 * "Helpdesk code for a device" (issue 15): a one-time code for a person without a phone, read out
 * over the phone and typed at that machine's prompt, accepted there even offline.
 */
function helpdeskForm(c: PageCtx, base: string, name: string, u: Json, live: Json[]): Html {
  if (!u.enrolled || u.status !== 'active' || live.length === 0) return h``;
  return h`<h3>Helpdesk code for a device</h3>
<p class="hint">For ${name} without a phone: a code to read out, typed at the normal code prompt of that one device; it works there once, even offline.</p>
${form(
  c,
  `${base}/helpdesk-code`,
  h`<label class="sr-only" for="hd-device">Device for the helpdesk code</label><select id="hd-device" name="device">${live.map((d) => h`<option value="${String(d.id)}">${String(d.name)}</option>`)}</select>
<label class="sr-only" for="hd-valid">Helpdesk code valid for</label><select id="hd-valid" name="valid">${HELPDESK_VALIDITY.map(([v, label]) => h`<option value="${String(v)}"${v === 900 ? ' selected' : ''}>${label}</option>`)}</select>
<button type="submit" class="small secondary">Show a helpdesk code</button>`,
)}`;
}

/** The validity choices of the form, in seconds (the API takes 60 to 86400). */
const HELPDESK_VALIDITY: [number, string][] = [
  [300, 'valid 5 minutes'],
  [900, 'valid 15 minutes'],
  [3600, 'valid 1 hour'],
  [4 * 3600, 'valid 4 hours'],
  [86_400, 'valid 24 hours'],
];

export function shownOnce(title: string, intro: Html, secret: Html, back: string): Rendered {
  return {
    title,
    body: h`<h1>${title}</h1><div class="card">${intro}${secret}<p class="hint">Shown only now: the server keeps only a hash of it.</p><a class="button" href="${back}">Done</a></div>`,
  };
}

export function enrollLinkPage(user: string, r: Json, before: Html = h``): Rendered {
  const mail = r.mail as Json | null | undefined;
  return shownOnce(
    `Enrollment link for ${user}`,
    h`${before}${mail ? h`<p role="status">${mail.delivered ? 'Mailed' : 'Queued for mail'} to ${String(mail.to)}${mail.delivered ? '' : ' (the server retries)'}; the link is here too.</p>` : ''}<p>Send this link to <strong>${user}</strong> (valid until ${when(String(r.expiresAt))}; it works once). It shows a QR code for the authenticator app and asks for one code.</p>`,
    h`<p><code class="secret" id="enroll-link">${String(r.link)}</code></p>`,
    `/admin/users?user=${enc(user)}`,
  );
}

const back = (p: Record<string, string>) => `/admin/users?user=${enc(p.name ?? '')}`;

export const USER_ACTIONS: Action[] = [
  {
    route: '/admin/users',
    back: () => '/admin/users',
    run: async (_p, f, c) => {
      const email = (f.email ?? '').trim();
      const u = await c.api('POST', '/v1/users', {
        name: (f.name ?? '').trim(),
        groups: listField(f.groups),
      });
      // The next step at once: the enrollment link (mailed too when an address was given).
      const name = String(u.name);
      const r = await c.api('POST', `/v1/users/${enc(name)}/enroll`, email ? { email } : {});
      return { page: enrollLinkPage(name, r, h`<p>Added <strong>${name}</strong>.</p>`) };
    },
  },
  ...(['suspend', 'resume'] as const).map((action): Action => ({
    route: `/admin/users/:name/${action}`,
    back,
    run: async (p, _f, c) => {
      await c.api('POST', `/v1/users/${enc(p.name ?? '')}/${action}`, {});
      return {
        redirect: back(p),
        notice: `${p.name ?? ''} ${action === 'suspend' ? 'suspended: refused at every login' : 'resumed'}.`,
      };
    },
  })),
  {
    route: '/admin/users/:name/unlock',
    back,
    run: async (p, f, c) => {
      await c.api(
        'POST',
        `/v1/users/${enc(p.name ?? '')}/unlock`,
        f.device ? { device: f.device } : {},
      );
      return {
        // The overview's unlock button goes back to the overview.
        redirect: f.from === 'overview' ? '/admin' : back(p),
        notice: `${p.name ?? ''} unlocked ${f.device ? 'on that device' : 'on every device'}.`,
      };
    },
  },
  {
    route: '/admin/users/:name/remove',
    back,
    run: async (p, f, c) => {
      if (f.confirm !== 'yes')
        throw new ApiRefused(400, 'CONFIRM', 'Nothing was removed: tick the confirmation first.');
      await c.api('DELETE', `/v1/users/${enc(p.name ?? '')}`);
      return { redirect: '/admin/users', notice: `Removed ${p.name ?? ''} on every device.` };
    },
  },
  {
    route: '/admin/users/:name/groups',
    back,
    run: async (p, f, c) => {
      await c.api('PUT', `/v1/users/${enc(p.name ?? '')}/groups`, { groups: listField(f.groups) });
      return { redirect: back(p), notice: `Groups of ${p.name ?? ''} saved.` };
    },
  },
  {
    route: '/admin/users/:name/enroll',
    back,
    run: async (p, _f, c) => ({
      page: enrollLinkPage(
        p.name ?? '',
        await c.api('POST', `/v1/users/${enc(p.name ?? '')}/enroll`, {}),
      ),
    }),
  },
  {
    // As `idvctl user reset-mfa`: the reset, then a new enrollment link.
    route: '/admin/users/:name/reset-mfa',
    back,
    run: async (p, f, c) => {
      if (f.confirm !== 'yes')
        throw new ApiRefused(400, 'CONFIRM', 'Nothing was reset: tick the confirmation first.');
      const name = enc(p.name ?? '');
      await c.api('POST', `/v1/users/${name}/reset-mfa`, { grace: f.grace === 'yes' });
      return {
        page: enrollLinkPage(p.name ?? '', await c.api('POST', `/v1/users/${name}/enroll`, {})),
      };
    },
  },
  {
    route: '/admin/users/:name/helpdesk-code',
    back,
    run: async (p, f, c) => {
      const user = p.name ?? '';
      const r = (await c.api('POST', `/v1/users/${enc(user)}/helpdesk-code`, {
        device: f.device ?? '',
        validSeconds: Number(f.valid ?? 900),
      })) as { code: string; expiresAt: string };
      return {
        page: {
          title: `Helpdesk code for ${user}`,
          body: h`<h1>Helpdesk code for ${user}</h1><div class="card">
<p>Read this code out to <strong>${user}</strong>, group by group. It works <strong>once</strong>, at the code prompt of that device only, until ${when(r.expiresAt)}, even if the device is offline.</p>
<p><code class="secret helpdesk-code" id="helpdesk-code" aria-label="${r.code.split('').join(' ')}">${r.code}</code></p>
<p class="hint">Shown only now: the server does not keep it. ${user} may type it with or without the dashes.</p>
<a class="button" href="${back(p)}">Done</a></div>`,
        },
      };
    },
  },
  {
    route: '/admin/users/:name/recovery-codes',
    back,
    run: async (p, _f, c) => {
      const r = (await c.api('POST', `/v1/users/${enc(p.name ?? '')}/recovery-codes`, {
        regenerate: true,
      })) as { codes: string[] };
      return {
        page: shownOnce(
          `New recovery codes for ${p.name ?? ''}`,
          h`<p>The old codes no longer work. Give these to <strong>${p.name ?? ''}</strong>; each works once at a login.</p>`,
          h`<ol class="codes" id="recovery-codes">${r.codes.map((x) => h`<li><code>${x}</code></li>`)}</ol>`,
          back(p),
        ),
      };
    },
  },
];
