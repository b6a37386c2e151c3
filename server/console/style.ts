/**
 * The console's stylesheet: the portal's (server/portal/style.ts) plus what a console needs —
 * a navigation bar, wide tables that scroll on a phone, number tiles, a small bar chart, badges.
 */
import { PORTAL_CSS } from '../portal/style.js';

export const CONSOLE_CSS = `${PORTAL_CSS}
body.console main { max-width: 76rem; }
body.console footer { max-width: 76rem; }
.sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0; overflow: hidden;
  clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
header.top { padding: 0; }
header.top .bar { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between;
  gap: .5rem 1rem; padding: .6rem 1rem; max-width: 76rem; margin: 0 auto; }
.brand { margin: 0; font-weight: 700; font-size: 1.1rem; }
.brand span { color: var(--muted); font-weight: 600; }
.who { display: flex; align-items: center; gap: .75rem; font-size: .95rem; }
.who button.link { margin: 0; }
header.top nav { border-top: 1px solid var(--border); }
/* The tabs wrap onto a second row on a phone: every one is on screen, no script, no hidden scroller. */
header.top nav ul { list-style: none; margin: 0 auto; padding: 0 .5rem; display: flex; flex-wrap: wrap;
  gap: 0 .25rem; max-width: 76rem; }
header.top nav a { display: block; padding: .6rem .75rem; color: var(--fg); text-decoration: none;
  border-bottom: 3px solid transparent; white-space: nowrap; font-weight: 600; }
header.top nav a:hover { color: var(--accent); }
header.top nav a[aria-current=page] { border-bottom-color: var(--accent); color: var(--accent); }
header.top nav a:focus-visible { outline-offset: -3px; }
.badge { display: inline-block; border: 1px solid var(--border); border-radius: 999px; padding: 0 .55rem;
  font-size: .8rem; font-weight: 600; color: var(--muted); background: var(--bg); white-space: nowrap; }
.badge.ok { color: var(--ok); border-color: var(--ok); }
.badge.warn { color: #9a6700; border-color: #d4a72c; }
.badge.bad { color: var(--danger); border-color: var(--danger); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: .75rem; margin: 1rem 0; }
.tile { background: var(--card); border: 1px solid var(--border); border-radius: .75rem; padding: .9rem 1rem; }
a.tile { display: block; color: var(--fg); text-decoration: none; }
a.tile:hover { border-color: var(--accent); }
.tile .n { display: block; font-size: 2rem; font-weight: 700; line-height: 1.1; }
.tile .l { color: var(--muted); font-size: .9rem; }
.tile.bad .n { color: var(--danger); }
.tile.warn .n { color: #9a6700; }
.scroll { overflow-x: auto; position: relative; }
/* A table wider than the screen scrolls inside its card, with a shadow on the side that has more. */
.scroll { background: linear-gradient(to right, var(--card) 30%, transparent) left / 2rem 100% no-repeat local,
  linear-gradient(to left, var(--card) 30%, transparent) right / 2rem 100% no-repeat local,
  radial-gradient(farthest-side at 0 50%, rgba(0,0,0,.22), transparent) left / .75rem 100% no-repeat scroll,
  radial-gradient(farthest-side at 100% 50%, rgba(0,0,0,.22), transparent) right / .75rem 100% no-repeat scroll; }
td.when, .nowrap { white-space: nowrap; }
code.cmd { display: block; overflow-x: auto; white-space: pre; padding: .4rem .6rem; background: var(--bg);
  border: 1px solid var(--border); border-radius: .4rem; margin: .25rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
caption { text-align: left; font-weight: 600; padding: 0 0 .5rem; }
th, td { text-align: left; padding: .5rem .6rem; border-bottom: 1px solid var(--border); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; white-space: nowrap; }
tbody tr:hover { background: var(--bg); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td code, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .88rem; }
.actions { display: flex; flex-wrap: wrap; gap: .35rem; }
.actions form { margin: 0; }
.actions button, button.small { margin: 0; padding: .3rem .65rem; font-size: .88rem; }
button.danger { background: var(--danger); border-color: var(--danger); color: #fff; }
button.danger.secondary { background: transparent; color: var(--danger); }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-end; }
form.filters label { margin: 0 0 .2rem; font-size: .9rem; }
form.filters button { margin: 0; }
form.filters > div:last-child { display: flex; align-items: center; gap: .75rem; padding-bottom: .2rem; }
.card > input[type=hidden]:first-child + * { margin-top: 0; }
input[type=text], input[type=password], input[type=search], input[type=number], input[type=datetime-local], select {
  font: inherit; font-size: 1rem; padding: .45rem .6rem; border: 2px solid var(--border);
  border-radius: .5rem; background: var(--card); color: var(--fg); max-width: 100%; }
input[type=password] { width: 100%; max-width: 22rem; font-size: 1.1rem; }
input.code { font-size: 1.25rem; }
.grid-form { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 0 1.25rem; }
.grid-form .field { margin-bottom: .5rem; }
.grid-form input[type=text], .grid-form input[type=number], .grid-form select { width: 100%; }
.field-error { color: var(--danger); font-weight: 600; margin: .2rem 0 0; }
[aria-invalid=true] { border-color: var(--danger) !important; }
.default { color: var(--muted); font-size: .85rem; margin: .15rem 0 0; }
label code.key { font-weight: 400; font-size: .8rem; color: var(--muted); }
/* Names of one or two lines: the labels of a row share a height, so the inputs line up. */
.policy-fields .field > label { min-height: 2.9rem; display: flex; flex-wrap: wrap; align-items: flex-end;
  gap: 0 .4rem; }
@media (max-width: 40rem) { .policy-fields .field > label { min-height: 0; } }
.chart { display: grid; grid-template-columns: auto 1fr; grid-template-rows: 10rem auto; gap: .2rem .4rem; }
.chart svg { display: block; width: 100%; height: 100%; }
.chart .ok { fill: var(--accent); }
.chart .bad { fill: var(--danger); }
.chart .axis, .chart .grid { stroke: var(--border); vector-effect: non-scaling-stroke; }
.chart .grid { stroke-dasharray: 4 4; }
.chart .ticks { display: flex; flex-direction: column; justify-content: space-between; text-align: right;
  font-size: .8rem; color: var(--muted); line-height: 1; font-variant-numeric: tabular-nums; }
.chart .hours { grid-column: 2; display: flex; justify-content: space-between; font-size: .8rem; color: var(--muted); }
.legend { display: flex; gap: 1rem; font-size: .85rem; color: var(--muted); margin: .25rem 0 0; padding: 0; list-style: none; }
.legend .sw { display: inline-block; width: .8rem; height: .8rem; border-radius: .2rem; vertical-align: -.1rem; margin-right: .3rem; }
.sw.ok { background: var(--accent); } .sw.bad { background: var(--danger); }
progress { width: 100%; max-width: 24rem; height: 1rem; }
.signin { max-width: 28rem; margin: 2rem auto; }
.split { display: grid; grid-template-columns: 1fr; gap: 1rem; }
@media (min-width: 60rem) { .split { grid-template-columns: 1fr 1fr; } }
details > summary { cursor: pointer; font-weight: 600; }
.secret.helpdesk-code { font-size: clamp(1.25rem, 6.5vw, 2.5rem); letter-spacing: .08em; padding: .75rem 1rem;
  white-space: nowrap; overflow-wrap: normal; }
@media (max-width: 40rem) {
  /* Log tables become one block per row on a phone: each cell under its column's name. */
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; }
  table.stack tr { border-bottom: 1px solid var(--border); padding: .45rem 0; }
  table.stack td { border: 0; padding: .1rem 0 .1rem 7rem; position: relative; white-space: normal; }
  table.stack td::before { content: attr(data-label); position: absolute; left: 0; width: 6.5rem;
    color: var(--muted); font-size: .85rem; font-weight: 600; }
  table.stack td[colspan] { padding-left: 0; }
  table.stack td[colspan]::before { content: none; }
  th, td { padding: .4rem .35rem; }
  .tile .n { font-size: 1.6rem; }
  header.top nav ul { padding: 0 .25rem; }
  header.top nav a { padding: .45rem .55rem; }
  .actions button, button.small { width: auto; }
  form.filters > div { flex: 1 1 100%; }
}
`;
