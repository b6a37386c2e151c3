/**
 * HTML building for the portal: every dynamic value goes through `esc`, pages share one layout
 * with a skip link, landmarks, one h1, and a live region for errors. No script anywhere.
 */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function esc(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] as string);
}

/** Marks a string as already-safe HTML (built from escaped parts). */
export interface Html {
  readonly html: string;
}

export function raw(html: string): Html {
  return { html };
}

/** Tagged template: interpolated strings are escaped, Html values and arrays of them are not. */
export function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += part(v) + (strings[i + 1] ?? '');
  });
  return { html: out };
}

function part(v: unknown): string {
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return v.map(part).join('');
  if (typeof v === 'object' && 'html' in v) return (v as Html).html;
  return esc(String(v));
}

export interface PageOptions {
  title: string;
  body: Html;
  /** A message for the live region (errors, confirmations); announced by screen readers. */
  alert?: { kind: 'error' | 'success'; text: string } | null;
}

export const STYLESHEET_PATH = '/portal/static/portal.css';

export function page(o: PageOptions): string {
  const alert = o.alert
    ? h`<div id="alert" class="${o.alert.kind}" role="${o.alert.kind === 'error' ? 'alert' : 'status'}" aria-live="${o.alert.kind === 'error' ? 'assertive' : 'polite'}">${o.alert.text}</div>`
    : h`<div id="alert" class="error" role="status" aria-live="polite"></div>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(o.title)} · idv</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<a class="skip" href="#main">Skip to main content</a>
<header class="top"><p>idv · identity verification</p></header>
<main id="main" tabindex="-1">
${alert.html}
${o.body.html}
</main>
<footer><p>Never share your codes. Your administrator will never ask for them.</p></footer>
</body>
</html>
`;
}

/** A hidden CSRF field for a POST form. */
export function csrfField(token: string): Html {
  return h`<input type="hidden" name="csrf" value="${token}">`;
}
