/**
 * The portal's one stylesheet, served at /portal/static/portal.css (CSP `style-src 'self'`: no
 * inline style anywhere). Mobile first; system fonts; visible focus rings; respects dark mode.
 */
export const PORTAL_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #f6f7f9; --card: #ffffff; --muted: #57606a;
  --accent: #0b5cad; --accent-fg: #ffffff; --danger: #b42318; --ok: #116329; --border: #d0d7de; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --card: #161b22; --muted: #9da7b3; --accent: #4493f8;
    --accent-fg: #0d1117; --danger: #ff7b72; --ok: #56d364; --border: #30363d; }
}
* { box-sizing: border-box; }
html { font-size: 100%; -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.skip { position: absolute; left: -999px; top: 0; background: var(--card); padding: .5rem 1rem; }
.skip:focus { left: .5rem; top: .5rem; z-index: 10; }
header.top { background: var(--card); border-bottom: 1px solid var(--border); padding: .75rem 1rem; }
header.top p { margin: 0; font-weight: 700; letter-spacing: .02em; }
main { max-width: 42rem; margin: 0 auto; padding: 1rem; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: .75rem; padding: 1.25rem;
  margin: 1rem 0; }
.card > :first-child, .card > form:first-child > :first-child { margin-top: 0; }
.card > :last-child { margin-bottom: 0; }
h1 { font-size: 1.5rem; line-height: 1.25; margin: .25rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.25rem 0 .5rem; }
p, li { max-width: 38rem; }
.muted { color: var(--muted); }
ol.steps { padding-left: 1.25rem; }
ol.steps > li { margin-bottom: 1rem; }
ol.steps > li > h2:first-child { margin-top: 0; }
.apps { display: flex; flex-wrap: wrap; gap: .4rem; list-style: none; padding: 0; margin: .5rem 0; }
.apps li { border: 1px solid var(--border); border-radius: 999px; padding: .1rem .65rem; font-size: .9rem; }
.qr-box { background: #ffffff; display: inline-block; padding: .25rem; border-radius: .5rem;
  border: 1px solid var(--border); }
svg.qr { display: block; width: min(16rem, 70vw); height: auto; }
.secret { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 1.15rem;
  letter-spacing: .08em; word-spacing: .3em; background: var(--bg); border: 1px dashed var(--border);
  padding: .5rem .75rem; border-radius: .5rem; display: inline-block; overflow-wrap: anywhere; }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
.hint { color: var(--muted); font-size: .9rem; margin: 0 0 .4rem; }
input[type=text] { font: inherit; font-size: 1.25rem; width: 100%; max-width: 18rem; padding: .55rem .7rem;
  border: 2px solid var(--border); border-radius: .5rem; background: var(--card); color: var(--fg); }
input.code { font-family: ui-monospace, Menlo, Consolas, monospace; letter-spacing: .15em; }
button, .button { font: inherit; font-weight: 600; display: inline-block; padding: .6rem 1.1rem;
  border-radius: .5rem; border: 2px solid var(--accent); background: var(--accent); color: var(--accent-fg);
  cursor: pointer; text-decoration: none; margin: .75rem .5rem 0 0; }
button.secondary, .button.secondary { background: transparent; color: var(--accent); }
button.link { background: none; border: none; color: var(--accent); padding: 0; text-decoration: underline; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.error { border-left: 4px solid var(--danger); padding: .5rem .75rem; background: var(--bg); margin: .75rem 0; }
.error:empty { display: none; }
.success { border-left: 4px solid var(--ok); padding: .5rem .75rem; background: var(--bg); margin: .75rem 0; }
ol.codes { columns: 2; column-gap: 2rem; padding-left: 2rem; margin: 1rem 0;
  font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 1.1rem; }
ol.codes li { margin: 0 0 .3rem; break-inside: avoid; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
form.inline { display: inline; }
footer { max-width: 42rem; margin: 0 auto; padding: 1rem; color: var(--muted); font-size: .85rem; }
@media (max-width: 30rem) {
  main { padding: .5rem; }
  .card { padding: 1rem; border-radius: .5rem; }
  ol.codes { columns: 1; }
  button, .button { width: 100%; text-align: center; margin-right: 0; }
}
`;
