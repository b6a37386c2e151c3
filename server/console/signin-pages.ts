/** The console's pages before sign-in: set-up (password + authenticator), sign-in, locked. */
import { csrfField, h, raw, type Html } from '../portal/html.js';
import { AUTHENTICATOR_APPS } from '../portal/pages.js';
import { PASSWORD_MIN } from './password.js';
import { consolePage, when } from './layout.js';

type Alert = { kind: 'error' | 'success'; text: string } | null;

function codeField(invalid: boolean, recovery: boolean): Html {
  return h`<label for="code">${recovery ? 'Code' : '6-digit code'}</label>
<p class="hint" id="code-hint">${recovery ? 'Six digits from your authenticator app, or one of your recovery codes (like abcd-efgh-2345).' : 'The code changes every 30 seconds; type the one shown now.'}</p>
<input type="text" class="code" id="code" name="code" required autocomplete="one-time-code" ${recovery ? raw('maxlength="20"') : raw('inputmode="numeric" pattern="[0-9 ]{6,9}" maxlength="9"')} spellcheck="false" autocapitalize="off" aria-describedby="code-hint${invalid ? ' alert' : ''}"${invalid ? raw(' aria-invalid="true" autofocus') : ''}>`;
}

export function setupStartPage(name: string): string {
  return consolePage({
    title: 'Set up your admin account',
    viewer: null,
    body: h`<div class="signin"><h1>Set up your admin account</h1>
<div class="card">
<p>This link sets up the idv console account <strong>${name}</strong>: you will choose a password and add the account to an authenticator app on your phone.</p>
<form method="post"><input type="hidden" name="start" value="1"><button type="submit">Start set-up</button></form>
<p class="hint">The link works once: after you start, it cannot be opened again.</p>
</div></div>`,
  });
}

export interface SetupView {
  name: string;
  issuer: string;
  qrSvg: string;
  groupedSecret: string;
  csrf: string;
  error: string | null;
  /** Which field the error is about. */
  field: 'password' | 'code' | null;
}

export function setupPage(v: SetupView): string {
  const pwBad = v.field === 'password';
  return consolePage({
    title: 'Set up your admin account',
    viewer: null,
    alert: v.error ? { kind: 'error', text: v.error } : null,
    body: h`<h1>Set up your admin account</h1>
<p>Account <strong>${v.name}</strong>. Signing in to the console will ask for this password and a code from your authenticator app.</p>
<form method="post" action="/admin/setup" class="card">
${csrfField(v.csrf)}
<ol class="steps">
<li><h2>Choose a password</h2>
<label for="password">New password</label>
<p class="hint" id="password-hint">At least ${PASSWORD_MIN} characters. A long phrase is easiest; common passwords are refused.</p>
<input type="password" id="password" name="password" required minlength="${PASSWORD_MIN}" maxlength="256" autocomplete="new-password" aria-describedby="password-hint${pwBad ? ' alert' : ''}"${pwBad ? raw(' aria-invalid="true" autofocus') : ''}>
<label for="password2">The same password again</label>
<input type="password" id="password2" name="password2" required minlength="${PASSWORD_MIN}" maxlength="256" autocomplete="new-password"></li>
<li><h2>Add the account to your authenticator app</h2>
<p>Any standard app works, for example ${AUTHENTICATOR_APPS.slice(0, 4).join(', ')}.</p>
<div class="qr-box">${raw(v.qrSvg)}</div>
<p>Can't scan it? Choose “enter a setup key” in the app and type this key (account: ${v.name}, issuer: ${v.issuer}, time-based):</p>
<p><code class="secret" id="secret" aria-label="Setup key">${v.groupedSecret}</code></p></li>
<li><h2>Enter the code the app shows</h2>
${codeField(v.field === 'code', false)}</li>
</ol>
<div><button type="submit">Finish set-up</button></div>
</form>`,
  });
}

export function setupDonePage(name: string, codes: string[]): string {
  return consolePage({
    title: 'Your recovery codes',
    viewer: null,
    alert: { kind: 'success', text: `The account ${name} is set up.` },
    body: h`<h1>Save your recovery codes</h1>
<p>If you lose your phone, each of these codes signs <strong>${name}</strong> in once instead of a code from the app. They are shown <strong>only now</strong>: print them or keep them in your password manager.</p>
<div class="card">
<h2 id="codes-heading">Recovery codes</h2>
<ol class="codes" id="recovery-codes" aria-labelledby="codes-heading">${codes.map((c) => h`<li><code>${c}</code></li>`)}</ol>
<a class="button" href="/admin">I have saved them: open the console</a>
</div>`,
  });
}

export function signInPage(csrf: string, alert: Alert, name = ''): string {
  return consolePage({
    title: 'Sign in',
    viewer: null,
    alert,
    body: h`<div class="signin"><h1>Sign in to the idv console</h1>
<form method="post" action="/admin/signin" class="card">
${csrfField(csrf)}
<label for="name">Admin name</label>
<input type="text" id="name" name="name" required autocomplete="username" autocapitalize="off" spellcheck="false" maxlength="64" value="${name}"${alert?.kind === 'error' ? raw(' aria-describedby="alert"') : ''}>
<label for="password">Password</label>
<input type="password" id="password" name="password" required maxlength="256" autocomplete="current-password"${alert?.kind === 'error' ? raw(' aria-invalid="true" autofocus') : ''}>
<div><button type="submit">Continue</button></div>
</form>
<p class="hint">After five failed attempts the account is locked; another admin can unlock it.</p></div>`,
  });
}

export function codePage(csrf: string, name: string, error: string | null): string {
  return consolePage({
    title: 'Enter your code',
    viewer: null,
    alert: error ? { kind: 'error', text: error } : null,
    body: h`<div class="signin"><h1>Enter your code</h1>
<form method="post" action="/admin/signin/code" class="card">
${csrfField(csrf)}
<p>Signing in as <strong>${name}</strong>.</p>
${codeField(error !== null, true)}
<div><button type="submit">Sign in</button></div>
</form>
<p><a href="/admin/signin">Start again</a></p></div>`,
  });
}

export function lockedPage(until: number | null): string {
  return consolePage({
    title: 'Account locked',
    viewer: null,
    alert: { kind: 'error', text: 'Too many failed attempts: this account is locked.' },
    body: h`<div class="signin"><h1>Account locked</h1>
<div class="card">
<p>Sign-in is blocked ${until === null ? 'until another admin unlocks the account' : h`until <strong>${when(until)}</strong>, or until another admin unlocks it`}.</p>
<p>Another admin can unlock it on the Admins page, or with <code>idvctl admin unlock NAME</code>.</p>
<p><a href="/admin/signin">Back to sign-in</a></p>
</div></div>`,
  });
}

export function endedPage(): string {
  return consolePage({
    title: 'Signed out',
    viewer: null,
    body: h`<div class="signin"><h1>Your session has ended</h1>
<div class="card"><p>Console sessions end after 15 minutes without activity, after 8 hours in all, and when you sign out.</p>
<p><a class="button" href="/admin/signin">Sign in again</a></p></div></div>`,
  });
}

export function goneLinkPage(): string {
  return consolePage({
    title: 'This link no longer works',
    viewer: null,
    body: h`<div class="signin"><h1>This set-up link no longer works</h1>
<div class="card"><p>Set-up links work once and for a day. Ask another admin for a new one (<code>idvctl admin add NAME</code> again gives a fresh link while the account is not set up).</p></div></div>`,
  });
}

export function refusedPage(status: number, text: string): string {
  return consolePage({
    title: status === 403 ? 'Not allowed' : 'That did not work',
    viewer: null,
    alert: { kind: 'error', text },
    body: h`<div class="signin"><h1>${status === 403 ? 'Not allowed' : 'That did not work'}</h1>
<div class="card"><p>${text}</p><p><a href="/admin">Back to the console</a></p></div></div>`,
  });
}
