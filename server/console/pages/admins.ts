/**
 * Admins: the console accounts (as `idvctl admin list`), add (set-up link shown once), unlock,
 * role, remove (the last active admin is kept: LAST_ADMIN).
 */
import { csrfField, h, type Html } from '../../portal/html.js';
import { ADMIN_ROLES } from '../../store/admins.js';
import { ago, when } from '../layout.js';
import { ApiRefused, enc, type Action, type Json, type PageCtx, type Rendered } from '../kit.js';
import { shownOnce } from './users.js';

/** Role and removal of one account (not removing oneself here: another admin does that). */
function manage(a: Json, me: string, csrf: Html): Html {
  const name = String(a.name);
  const base = `/admin/admins/${enc(name)}`;
  const id = `role-${name}`;
  return h`<form method="post" action="${base}/role" class="inline">${csrf}<label class="sr-only" for="${id}">Role of ${name}</label><select id="${id}" name="role">${ADMIN_ROLES.map((r) => h`<option value="${r}"${r === a.role ? h` selected` : ''}>${r}</option>`)}</select> <button type="submit" class="small secondary">Set role of ${name}</button></form>${
    name === me
      ? ''
      : h`<form method="post" action="${base}/remove" class="inline">${csrf}<details><summary>Remove ${name}…</summary><p>Ends ${name}'s sessions at once; the audit log keeps what ${name} did.</p><label><input type="checkbox" name="confirm" value="yes" required> Remove admin ${name}</label> <button type="submit" class="small danger">Remove ${name}</button></details></form>`
  }`;
}

export async function adminsPage(c: PageCtx): Promise<Rendered> {
  const { admins } = (await c.api('GET', '/v1/admins')) as { admins: Json[] };
  const csrf = csrfField(c.viewer.csrf);
  return {
    title: 'Admins',
    body: h`<h1>Admins</h1>
<section class="card" aria-labelledby="list-h"><h2 id="list-h">Console accounts</h2>
<div class="scroll" tabindex="0" role="region" aria-labelledby="list-h"><table>
<thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Last sign-in</th><th scope="col">Recovery codes</th><th scope="col">Added by</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>${admins.map(
      (
        a,
      ) => h`<tr><td><strong>${String(a.name)}</strong>${a.name === c.viewer.name ? h` <span class="muted">(you)</span>` : ''}</td><td>${String(a.role)}</td>
<td>${a.locked ? h`<span class="badge bad">locked${a.lockedUntil ? h` until ${when(String(a.lockedUntil))}` : ''}</span>` : a.status === 'setup' ? h`<span class="badge warn">set-up pending</span>` : h`<span class="badge ok">active</span>`}${Number(a.failures) > 0 && !a.locked ? h` <span class="muted">${String(a.failures)} failed</span>` : ''}</td>
<td>${ago(a.lastSignInAt as string | null, c.now)}</td><td class="num">${String(a.recoveryCodesLeft)}</td><td>${String(a.createdBy)}</td>
<td><div class="actions">${a.locked && a.name !== c.viewer.name ? h`<form method="post" action="/admin/admins/${enc(String(a.name))}/unlock" class="inline">${csrf}<button type="submit" class="small">Unlock ${String(a.name)}</button></form>` : ''}${manage(a, c.viewer.name, csrf)}</div></td></tr>`,
    )}</tbody></table></div></section>
<section class="card" aria-labelledby="add-h"><h2 id="add-h">Add an admin</h2>
<form method="post" action="/admin/admins">${csrf}
<div class="grid-form"><div class="field"><label for="a-name">Name</label><input type="text" id="a-name" name="name" required maxlength="64" autocapitalize="off" spellcheck="false"></div>
<div class="field"><label for="a-role">Role</label><select id="a-role" name="role" aria-describedby="a-role-hint"><option value="admin">admin</option><option value="helpdesk">helpdesk</option></select>
<p class="hint" id="a-role-hint">helpdesk: view, unlock, reset MFA, enrollment links; no policy, devices or admins.</p></div></div>
<button type="submit">Add and show the set-up link</button></form></section>
<section class="card" aria-labelledby="me-h"><h2 id="me-h">Your sessions</h2>
<p>Signed in on another computer and not sure you signed out? This ends every console session of <strong>${c.viewer.name}</strong>, this one too.</p>
<form method="post" action="/admin/signout-everywhere">${csrf}<button type="submit" class="secondary">Sign out everywhere</button></form></section>`,
  };
}

export const ADMIN_ACTIONS: Action[] = [
  {
    route: '/admin/admins',
    back: () => '/admin/admins',
    run: async (_p, f, c) => {
      const r = await c.api('POST', '/v1/admins', {
        name: (f.name ?? '').trim(),
        role: f.role === 'helpdesk' ? 'helpdesk' : 'admin',
      });
      return {
        page: shownOnce(
          `Set-up link for ${String(r.name)}`,
          h`<p>Give this link to <strong>${String(r.name)}</strong> (role ${String(r.role)}); it works once, until ${when(String(r.linkExpiresAt))}. It sets a password and an authenticator app.</p>`,
          h`<p><code class="secret" id="setup-link">${String(r.link)}</code></p>`,
          '/admin/admins',
        ),
      };
    },
  },
  {
    route: '/admin/admins/:name/role',
    back: () => '/admin/admins',
    run: async (p, f, c) => {
      const a = await c.api('PUT', `/v1/admins/${enc(p.name ?? '')}/role`, { role: f.role ?? '' });
      return {
        redirect: '/admin/admins',
        notice: `${String(a.name)} now has the role ${String(a.role)}.`,
      };
    },
  },
  {
    route: '/admin/admins/:name/remove',
    back: () => '/admin/admins',
    run: async (p, f, c) => {
      if (f.confirm !== 'yes')
        throw new ApiRefused(400, 'CONFIRM', 'Nothing was removed: tick the confirmation first.');
      if (p.name === c.viewer.name)
        throw new ApiRefused(400, 'USAGE', 'Another admin removes your account, not you.');
      const r = await c.api('DELETE', `/v1/admins/${enc(p.name ?? '')}`);
      return {
        redirect: '/admin/admins',
        notice: `Removed ${p.name ?? ''}; ${String(r.sessions)} ${r.sessions === 1 ? 'session' : 'sessions'} ended.`,
      };
    },
  },
  {
    route: '/admin/admins/:name/unlock',
    back: () => '/admin/admins',
    run: async (p, _f, c) => {
      await c.api('POST', `/v1/admins/${enc(p.name ?? '')}/unlock`, {});
      return {
        redirect: '/admin/admins',
        notice: `${p.name ?? ''} unlocked: they can sign in again.`,
      };
    },
  },
];
