/** The portal's pages: content only; layout and escaping come from html.ts. */
import { csrfField, h, page, raw, type Html } from './html.js';

/** Authenticator apps people are likely to have; any RFC 6238 app works. */
export const AUTHENTICATOR_APPS = [
  'Google Authenticator',
  'Microsoft Authenticator',
  'Authy',
  'Duo Mobile',
  '1Password',
  'Bitwarden',
  'FreeOTP',
  'Aegis (Android)',
  'Raivo or Apple Passwords (iPhone)',
];

export function formatWhen(ms: number): string {
  return new Date(ms).toUTCString().replace(/:\d\d GMT$/, ' UTC');
}

/** The code field; after a wrong code it is marked invalid and takes the focus again. */
function codeInput(
  id: string,
  label: string,
  hint: string,
  allowRecovery: boolean,
  invalid = false,
): Html {
  return h`<label for="${id}">${label}</label>
<p class="hint" id="${id}-hint">${hint}</p>
<input type="text" class="code" id="${id}" name="code" required autocomplete="one-time-code"
  ${allowRecovery ? raw('inputmode="text" maxlength="20"') : raw('inputmode="numeric" pattern="[0-9 ]{6,9}" maxlength="9"')}
  spellcheck="false" autocapitalize="off" aria-describedby="${id}-hint${invalid ? ' alert' : ''}"${invalid ? raw(' aria-invalid="true" autofocus') : ''}>`;
}

export interface EnrollView {
  user: string;
  issuer: string;
  qrSvg: string;
  groupedSecret: string;
  digits: number;
  csrf: string;
  replacing: boolean;
  /** Until when the user may still log in without a code (not enrolled yet), epoch ms; 0: a reset ended the grace. */
  graceUntil: number | null;
  now: number;
  error?: string | null;
}

export function enrollPage(v: EnrollView): string {
  return page({
    title: 'Set up your authenticator app',
    alert: v.error ? { kind: 'error', text: v.error } : null,
    body: h`<h1>Set up your authenticator app</h1>
<p>Account <strong>${v.user}</strong>. ${
      v.replacing
        ? 'Your old app keeps working until you confirm the new one below.'
        : 'From now on, logging in to your computers asks for a six-digit code from this app.'
    }</p>
${
  v.graceUntil === null
    ? ''
    : v.graceUntil === 0
      ? h`<p><strong>Your authenticator app was reset:</strong> logins that need a code are refused until you finish here.</p>`
      : v.graceUntil > v.now
        ? h`<p>Until <strong>${formatWhen(v.graceUntil)}</strong> you can still log in without a code; after that, logins need this app.</p>`
        : h`<p><strong>Your time to set this up has run out:</strong> logins that need a code are refused until you finish here.</p>`
}
<div class="card">
<ol class="steps">
<li><h2>Install an authenticator app</h2>
<p>Any standard authenticator app works, for example:</p>
<ul class="apps">${AUTHENTICATOR_APPS.map((a) => h`<li>${a}</li>`)}</ul></li>
<li><h2>Scan this QR code with the app</h2>
<div class="qr-box">${raw(v.qrSvg)}</div>
<p>Can't scan it? Choose “enter a setup key” in the app and type this key (account: ${v.user}, issuer: ${v.issuer}, time-based):</p>
<p><code class="secret" id="secret" aria-label="Setup key">${v.groupedSecret}</code></p></li>
<li><h2>Enter the code the app shows</h2>
<form method="post" action="/portal/enroll">
${csrfField(v.csrf)}
${codeInput('code', `${v.digits}-digit code`, 'The code changes every 30 seconds; type the one shown now.', false, Boolean(v.error))}
<div><button type="submit">Confirm and turn on</button></div>
</form></li>
</ol>
</div>`,
  });
}

export function recoveryCodesPage(user: string, codes: string[], csrf: string): string {
  return page({
    title: 'Your recovery codes',
    alert: { kind: 'success', text: 'Your authenticator app is set up.' },
    body: h`<h1>Save your recovery codes</h1>
<p>If you lose your phone, each of these codes lets <strong>${user}</strong> log in once instead of a code from the app. They are shown <strong>only now</strong>: download or print them and keep them somewhere safe.</p>
<div class="card">
<h2 id="codes-heading">Recovery codes</h2>
<ol class="codes" id="recovery-codes" aria-labelledby="codes-heading">${codes.map((c) => h`<li><code>${c}</code></li>`)}</ol>
<a class="button secondary" href="/portal/recovery-codes.txt" download="idv-recovery-codes-${user}.txt">Download as a text file</a>
<form method="post" action="/portal/recovery-codes/done">
${csrfField(csrf)}
<button type="submit">I have saved my codes</button>
</form>
</div>`,
  });
}

export function recoveryCodesText(
  user: string,
  issuer: string,
  codes: string[],
  at: number,
): string {
  return [
    `${issuer} recovery codes for ${user}`,
    `Created ${formatWhen(at)}. Each code works once, in place of a code from your authenticator app.`,
    '',
    ...codes.map((c, i) => `${String(i + 1).padStart(2, ' ')}. ${c}`),
    '',
  ].join('\n');
}

export function signInPage(csrf: string, error?: string | null, user = ''): string {
  return page({
    title: 'Sign in',
    alert: error ? { kind: 'error', text: error } : null,
    body: h`<h1>Sign in to manage your authenticator</h1>
<p>Use a code from your authenticator app, or one of your recovery codes if you no longer have the app.</p>
<div class="card">
<form method="post" action="/portal/signin">
${csrfField(csrf)}
<label for="user">User name</label>
<input type="text" id="user" name="user" required autocomplete="username" autocapitalize="off" spellcheck="false" maxlength="64" value="${user}">
${codeInput('code', 'Code', 'Six digits from the app, or a recovery code like abcd-efgh-2345.', true, Boolean(error))}
<div><button type="submit">Sign in</button></div>
</form>
</div>`,
  });
}

export interface AccountView {
  user: string;
  enrolled: boolean;
  recoveryLeft: number;
  csrf: string;
  notice?: string | null;
}

export function accountPage(v: AccountView): string {
  return page({
    title: 'Your account',
    alert: v.notice ? { kind: 'success', text: v.notice } : null,
    body: h`<h1>Your account</h1>
<div class="card">
<dl class="facts">
<dt>User</dt><dd>${v.user}</dd>
<dt>Authenticator app</dt><dd>${v.enrolled ? 'set up' : 'not set up'}</dd>
<dt>Recovery codes left</dt><dd>${v.recoveryLeft}</dd>
</dl>
</div>
<div class="card">
<h2>I replaced my phone</h2>
<p>Set up the authenticator app on your new phone. The old app stops working as soon as you confirm the new one.</p>
<form method="post" action="/portal/reset">
${csrfField(v.csrf)}
<button type="submit">Set up a new phone</button>
</form>
</div>
<div class="card">
<h2>New recovery codes</h2>
<p>Get ten new recovery codes. The ones you have now stop working.</p>
<form method="post" action="/portal/recovery-codes/regenerate">
${csrfField(v.csrf)}
<button type="submit" class="secondary">Make new recovery codes</button>
</form>
</div>
<form method="post" action="/portal/signout">
${csrfField(v.csrf)}
<button type="submit" class="secondary">Sign out</button>
</form>`,
  });
}

/** Expired, used or unknown enrollment link (410). */
/** What an enrollment link shows before it is spent: who it is for and one button. */
export function startSetupPage(o: { user: string; issuer: string }): string {
  return page({
    title: 'Set up your authenticator app',
    body: h`<h1>Set up your authenticator app</h1>
<div class="card">
<p>This link sets up sign-in codes for <strong>${o.user}</strong> (${o.issuer}). You will need your phone with an authenticator app.</p>
<form method="post">
<input type="hidden" name="start" value="1">
<button type="submit" id="start">Start setup</button>
</form>
<p class="hint">The link works once: after you start, it cannot be opened again.</p>
</div>`,
  });
}

export function linkGonePage(): string {
  return page({
    title: 'This link no longer works',
    body: h`<h1>This setup link no longer works</h1>
<div class="card">
<p>Setup links work <strong>once</strong> and only for a limited time. This one has expired, has already been opened, or was replaced by a newer link.</p>
<h2>What to do</h2>
<ul>
<li>If you already finished setting up your app, there is nothing to do: log in with a code from it.</li>
<li>Otherwise, ask your administrator for a new setup link (<code>idvctl user enroll</code>).</li>
<li>If you have a working code or a recovery code, you can <a href="/portal/signin">sign in</a> to set up a new phone yourself.</li>
</ul>
</div>`,
  });
}

/** Too many wrong codes (429). */
export function lockedPage(until: number | null): string {
  return page({
    title: 'Too many attempts',
    alert: { kind: 'error', text: 'Too many wrong codes.' },
    body: h`<h1>Too many attempts</h1>
<div class="card">
<p>For your security, sign-in is blocked ${until === null ? 'until an administrator unlocks your account' : h`until <strong>${formatWhen(until)}</strong>`}.</p>
<h2>What to do</h2>
<ul>
<li>Check that the clock of your phone is set automatically; a wrong clock gives wrong codes.</li>
<li>${until === null ? 'Ask your administrator to unlock you' : 'Wait, then try again, or ask your administrator to unlock you'} (<code>idvctl user unlock</code>).</li>
</ul>
<p><a href="/portal/signin">Back to sign-in</a></p>
</div>`,
  });
}

/** Session missing or expired. */
export function sessionEndedPage(): string {
  return page({
    title: 'Your session ended',
    body: h`<h1>Your session has ended</h1>
<div class="card">
<p>For your security, portal sessions end after a few minutes without activity, when you sign out, or when the server restarts.</p>
<p><a href="/portal/signin">Sign in again</a>, or open a new setup link from your administrator.</p>
</div>`,
  });
}

export function problemPage(title: string, text: string): string {
  return page({
    title,
    body: h`<h1>${title}</h1>
<div class="card"><p>${text}</p><p><a href="/portal/signin">Go to sign-in</a></p></div>`,
  });
}
