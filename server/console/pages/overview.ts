/**
 * Overview: devices online / offline / stale, users not enrolled (grace left), users locked now
 * (and where), logins and failures in the last 24 h as numbers and a small hourly chart.
 */
import { csrfField, h, type Html } from '../../portal/html.js';
import { ago, when } from '../layout.js';
import { enc, type Json, type PageCtx, type Rendered } from '../kit.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** Outcomes counted as failures (a grace or policy "skip" is neither a login nor a failure). */
const FAILED = new Set(['invalid', 'locked', 'deny']);

/** The (user, device) pairs whose latest event is a lockout that has not run out. */
export function lockedNow(events: Json[], lockoutMs: (device: string) => number, now: number) {
  const last = new Map<string, Json>();
  for (const e of events) {
    // An unlock for every device (`*`) ends the user's lockouts everywhere.
    if (e.device === '*') {
      for (const k of [...last.keys()]) if (k.startsWith(`${String(e.user)}\n`)) last.delete(k);
      continue;
    }
    last.set(`${String(e.user)}\n${String(e.device)}`, e);
  }
  return [...last.values()].filter((e) => {
    if (e.outcome !== 'locked') return false;
    const ms = lockoutMs(String(e.device));
    return ms === 0 || Date.parse(String(e.at)) + ms > now;
  });
}

/** The enrollment grace of a policy, in ms. */
export function graceMs(policy: Json): number {
  return Number(policy.enrollmentGraceDays) * DAY;
}

/** When a user not enrolled stops being let through without a code (epoch ms). */
export function graceEnds(user: Json, grace: number): number {
  return Date.parse(String(user.graceStartedAt)) + grace;
}

/** The top of the chart's scale: a round number at or above `max` (2, 4, 6, 8, 10, 20, ...). */
export function scaleTop(max: number): number {
  let unit = 1;
  for (;;) {
    for (const step of [2, 4, 6, 8, 10]) if (step * unit >= max) return step * unit;
    unit *= 10;
  }
}

function chart(events: Json[], now: number): Html {
  const ok = new Array<number>(24).fill(0);
  const bad = new Array<number>(24).fill(0);
  for (const e of events) {
    const i = 23 - Math.floor((now - Date.parse(String(e.at))) / HOUR);
    if (i < 0 || i > 23) continue;
    if (e.outcome === 'ok') ok[i] = (ok[i] ?? 0) + 1;
    else if (FAILED.has(String(e.outcome))) bad[i] = (bad[i] ?? 0) + 1;
  }
  const most = Math.max(0, ...ok.map((n, i) => n + (bad[i] ?? 0)));
  const top = scaleTop(most);
  // The bars stretch to the card's width (preserveAspectRatio none); the scale and the hours
  // are HTML beside and under them, so their text keeps its size.
  const H = 100;
  const bars = ok.map((n, i) => {
    const b = bad[i] ?? 0;
    const hOk = (n / top) * H;
    const hBad = (b / top) * H;
    const x = (i * 10 + 1).toFixed(1);
    return h`<rect class="ok" x="${x}" y="${(H - hOk).toFixed(2)}" width="8" height="${hOk.toFixed(2)}"><title>${n} accepted</title></rect><rect class="bad" x="${x}" y="${(H - hOk - hBad).toFixed(2)}" width="8" height="${hBad.toFixed(2)}"><title>${b} failed or locked</title></rect>`;
  });
  const total = ok.reduce((a, b) => a + b, 0);
  const failed = bad.reduce((a, b) => a + b, 0);
  return h`<div class="chart" role="img" aria-label="Logins per hour over the last 24 hours: ${total} accepted, ${failed} failed; most in one hour: ${most}">
<div class="ticks" aria-hidden="true"><span>${top}</span><span>${top / 2}</span><span>0</span></div>
<svg viewBox="0 0 240 ${H}" preserveAspectRatio="none" aria-hidden="true" focusable="false">
<line class="grid" x1="0" y1="0.5" x2="240" y2="0.5"></line><line class="grid" x1="0" y1="${H / 2}" x2="240" y2="${H / 2}"></line><line class="axis" x1="0" y1="${H - 0.5}" x2="240" y2="${H - 0.5}"></line>${bars}</svg>
<div class="hours" aria-hidden="true"><span>24 h ago</span><span>12 h ago</span><span>now</span></div></div>
<ul class="legend"><li><span class="sw ok"></span>accepted</li><li><span class="sw bad"></span>failed or locked</li><li>logins per hour</li></ul>${total + failed === 0 ? h`<p class="muted">No logins in the last 24 hours.</p>` : ''}`;
}

export async function overviewPage(c: PageCtx): Promise<Rendered> {
  const [{ devices }, { users }, { deviceGroups }, { events }] = (await Promise.all([
    c.api('GET', '/v1/devices'),
    c.api('GET', '/v1/users'),
    c.api('GET', '/v1/groups'),
    c.api('GET', `/v1/events?since=${c.now - DAY}&limit=10000`),
  ])) as [{ devices: Json[] }, { users: Json[] }, { deviceGroups: Json[] }, { events: Json[] }];
  const policies = new Map<string, Json>();
  for (const g of [{ name: 'default' }, ...deviceGroups]) {
    const name = String(g.name);
    if (!policies.has(name))
      policies.set(name, (await c.api('GET', `/v1/policies/${enc(name)}`)).policy as Json);
  }
  const policyOf = (group: string) => policies.get(group) ?? (policies.get('default') as Json);
  const live = devices.filter((d) => !d.revoked);
  const stale = live.filter(
    (d) =>
      !d.online &&
      (d.lastSeenAt === null ||
        c.now - Date.parse(String(d.lastSeenAt)) >
          Number(policyOf(String(d.deviceGroup)).offlineMaxAgeSeconds) * 1000),
  );
  const online = live.filter((d) => d.online);
  const offline = live.length - online.length - stale.length;
  const byId = new Map(devices.map((d) => [String(d.id), d]));
  const grace = graceMs(policyOf('default'));
  const notEnrolled = users.filter((u) => !u.enrolled && u.status === 'active');
  const logins = events.filter((e) => e.outcome === 'ok').length;
  const failures = events.filter((e) => FAILED.has(String(e.outcome))).length;
  const lockoutOf = (device: string) =>
    Number(policyOf(String(byId.get(device)?.deviceGroup ?? 'default')).lockoutSeconds) * 1000;
  const locked = lockedNow(events, lockoutOf, c.now);
  const tile = (n: number, label: string, href: string, kind = '') =>
    h`<a class="tile ${kind}" href="${href}"><span class="n">${n}</span><span class="l">${label}</span></a>`;
  return {
    title: 'Overview',
    body: h`<h1>Overview</h1>
<section aria-labelledby="devices-h"><h2 id="devices-h">Devices</h2>
<div class="tiles">${tile(online.length, 'online now', '/admin/devices')}${tile(offline, 'offline', '/admin/devices')}${tile(stale.length, 'stale (no sync for longer than the policy allows)', '/admin/devices', stale.length ? 'warn' : '')}</div></section>
<section aria-labelledby="logins-h"><h2 id="logins-h">Logins in the last 24 hours</h2>
<div class="tiles">${tile(logins, 'accepted', '/admin/events?outcome=ok')}${tile(failures, 'failed or locked', '/admin/events?outcome=invalid', failures ? 'bad' : '')}${tile(locked.length, 'users locked now', '#locked', locked.length ? 'bad' : '')}</div>
<div class="card">${chart(events, c.now)}</div></section>
<div class="split">
<section class="card" aria-labelledby="locked">
<h2 id="locked">Locked now</h2>
${
  locked.length === 0
    ? h`<p class="muted">Nobody is locked out.</p>`
    : h`<div class="scroll"><table><thead><tr><th scope="col">User</th><th scope="col">Device</th><th scope="col">Since</th><th scope="col">Until</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>${locked.map(
        (e) => {
          const user = String(e.user);
          const device = String(e.deviceName ?? e.device);
          const ms = lockoutOf(String(e.device));
          return h`<tr><td><a href="/admin/users?user=${enc(user)}">${user}</a></td><td>${device}</td><td>${ago(String(e.at), c.now)}</td><td>${ms === 0 ? 'an admin unlocks' : when(Date.parse(String(e.at)) + ms)}</td>
<td><form method="post" action="/admin/users/${enc(user)}/unlock" class="inline">${csrfField(c.viewer.csrf)}<input type="hidden" name="device" value="${String(e.device)}"><input type="hidden" name="from" value="overview"><button type="submit" class="small">Unlock ${user} on ${device}</button></form></td></tr>`;
        },
      )}</tbody></table></div>`
}
</section>
<section class="card" aria-labelledby="enrol-h">
<h2 id="enrol-h">Not enrolled yet</h2>
${
  notEnrolled.length === 0
    ? h`<p class="muted">Every active user has an authenticator app.</p>`
    : h`<div class="scroll"><table><thead><tr><th scope="col">User</th><th scope="col">Grace left</th></tr></thead><tbody>${notEnrolled.map(
        (u) => {
          // null: a reset ended the grace (no login without a code until the new app is set up).
          const left = u.graceStartedAt === null ? 0 : graceEnds(u, grace) - c.now;
          return h`<tr><td><a href="/admin/users?q=${String(u.name)}">${String(u.name)}</a></td><td>${
            u.graceStartedAt === null
              ? h`<span class="badge bad">ended by reset</span>`
              : left > 0
                ? h`${Math.ceil(left / DAY)} ${Math.ceil(left / DAY) === 1 ? 'day' : 'days'}`
                : h`<span class="badge bad">ran out</span>`
          }</td></tr>`;
        },
      )}</tbody></table></div>`
}
</section>
</div>`,
  };
}
