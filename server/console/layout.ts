/**
 * The console's page layout: the portal's escaping and pieces (server/portal/html.ts), a
 * navigation bar, a live region for notices, and the one script file only on pages that follow
 * something live. Landmarks, one h1, a skip link; the current page is marked aria-current.
 */
import { csrfField, esc, h, type Html } from '../portal/html.js';
import type { AdminRole } from '../store/admins.js';

export const CONSOLE_CSS_PATH = '/admin/static/console.css';
export const CONSOLE_JS_PATH = '/admin/static/console.js';

export interface Viewer {
  name: string;
  role: AdminRole;
  csrf: string;
}

export const NAV: readonly { path: string; label: string; role: AdminRole }[] = [
  { path: '/admin', label: 'Overview', role: 'helpdesk' },
  { path: '/admin/users', label: 'Users', role: 'helpdesk' },
  { path: '/admin/devices', label: 'Devices', role: 'helpdesk' },
  { path: '/admin/policy', label: 'Policy', role: 'helpdesk' },
  { path: '/admin/events', label: 'Events', role: 'helpdesk' },
  { path: '/admin/audit', label: 'Audit', role: 'admin' },
  { path: '/admin/admins', label: 'Admins', role: 'admin' },
];

export interface ConsolePageOptions {
  title: string;
  body: Html;
  viewer: Viewer | null;
  /** The NAV path of this page (marked current). */
  current?: string;
  alert?: { kind: 'error' | 'success'; text: string } | null;
  /** Loads /admin/static/console.js (live updates). */
  live?: boolean;
}

export function consolePage(o: ConsolePageOptions): string {
  const v = o.viewer;
  const alert = o.alert
    ? h`<div id="alert" class="${o.alert.kind}" role="${o.alert.kind === 'error' ? 'alert' : 'status'}">${o.alert.text}</div>`
    : h`<div id="alert" class="error" role="status"></div>`;
  const nav = v
    ? h`<nav aria-label="Console"><ul>${NAV.filter(
        (n) => v.role === 'admin' || n.role === 'helpdesk',
      ).map(
        (n) =>
          h`<li><a href="${n.path}"${n.path === o.current ? h` aria-current="page"` : ''}>${n.label}</a></li>`,
      )}</ul></nav>`
    : h``;
  const who = v
    ? h`<div class="who"><span><span class="sr-only">Signed in as </span><strong>${v.name}</strong> <span class="badge">${v.role}</span></span>
<form method="post" action="/admin/signout" class="inline">${csrfField(v.csrf)}<button type="submit" class="link">Sign out</button></form></div>`
    : h``;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(o.title)} · idv console</title>
<link rel="stylesheet" href="${CONSOLE_CSS_PATH}">
${o.live ? `<script src="${CONSOLE_JS_PATH}" defer></script>` : ''}
</head>
<body class="console">
<a class="skip" href="#main">Skip to main content</a>
<header class="top"><div class="bar"><p class="brand">idv <span>console</span></p>${who.html}</div>${nav.html}</header>
<main id="main" tabindex="-1">
${alert.html}
${o.body.html}
</main>
<footer><p>idv admin console · every change here is recorded in the audit log.</p></footer>
</body>
</html>
`;
}

/** A time as the whole console shows it: UTC, to the second (`2026-12-07 22:29:05 UTC`). */
export function when(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '—';
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC');
}

/** "3 min ago", "2 h ago", "5 d ago" (the exact time is in the title). */
export function ago(ms: number | string | null | undefined, now: number): Html {
  if (ms === null || ms === undefined) return h`never`;
  const t = new Date(ms).getTime();
  const s = Math.max(0, Math.round((now - t) / 1000));
  const text =
    s < 60
      ? 'just now'
      : s < 3600
        ? `${Math.floor(s / 60)} min ago`
        : s < 86_400
          ? `${Math.floor(s / 3600)} h ago`
          : `${Math.floor(s / 86_400)} d ago`;
  return h`<time datetime="${new Date(t).toISOString()}" title="${when(t)}">${text}</time>`;
}
