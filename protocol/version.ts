/**
 * Versions.
 *
 * IDV_VERSION is the release (kept equal to package.json's by a unit test); IDV_COMMIT the commit
 * it was built from (stamped by scripts/build.mjs and scripts/package.mjs); versionLine() what
 * every program's --version prints, with the Node.js it runs on.
 *
 * PROTOCOL_VERSION is the frame format version `v`: of the local channel (helper, CLI ↔ agent:
 * one package on one machine, so one number, refused when different) and of the sync channel's
 * challenge/hello frames. It stays 1 on the sync channel: what a server and an agent speak there
 * is the range below, negotiated per connection, so a fleet can be upgraded one machine at a time.
 *
 * SYNC_PROTOCOL is the range of sync protocol versions this build speaks (the model is
 * tailscale's capability version). The agent says its range in the WebSocket upgrade request,
 * twice: header `idv-protocol: MIN-MAX` and the URL's query `?protocol=MIN-MAX` (a proxy that
 * passes only the headers it knows still passes the URL; servers from before the query ignore
 * it). The server takes the header, else the query; neither = an agent from before ranges, which
 * speaks 1. It answers with its own range in the challenge (`protocol`, only to an agent that
 * said one: older agents' strict schemas refuse the key) or refuses with close code 4406 and a
 * message naming both ranges. Both sides then speak the highest version in both ranges, and
 * neither sends the other a field or message kind newer than it (protocol/compat.ts says which
 * version each addition needs). Raising `min` drops the older agents or servers: do it only one
 * release after every side speaks the newer version.
 *
 * Each sync version, and what it added:
 *   1 — challenge/hello with Ed25519 proof, snapshot/delta/ack by revision, event batches.
 *   2 — version ranges (idv-protocol header or protocol query, challenge.protocol); close code 1012 (server
 *       restarting: reconnect now); everything listed with version 2 in protocol/compat.ts.
 *   3 — `serverStatus`: a replica cut from the database says since when it is stale; `revoked`:
 *       a revoked device uploads its outbox one last time (flagged), and gets nothing else.
 *   4 — `helpdeskSecret`/`helpdeskAck`: a device registered before helpdesk codes gets its secret
 *       over the authenticated session once, and helpdesk codes are issued for it once it said it
 *       kept it (docs/agent.md, "A bad day").
 */
export const IDV_VERSION = '0.2.0';

/** Replaced at build time by esbuild's `define` (scripts/build-info.mjs); absent when run from source. */
declare const IDV_BUILD_COMMIT: string | undefined;

/** The short commit this build came from; `unknown` when built without git or run from source. */
export const IDV_COMMIT: string =
  typeof IDV_BUILD_COMMIT === 'string' ? IDV_BUILD_COMMIT : 'unknown';

/** What /healthz, `idv-agent status --json` and /metrics' build info say about the running program. */
export interface BuildInfo {
  readonly version: string;
  readonly commit: string;
  /** The Node.js it runs on, as `process.version` says it (`v24.22.3`). */
  readonly node: string;
}

export function buildInfo(): BuildInfo {
  return { version: IDV_VERSION, commit: IDV_COMMIT, node: process.version };
}

/** `idv-agent 0.2.0 (9305327, node v24.22.3)`: what `PROGRAM --version` prints. */
export function versionLine(program: string): string {
  const b = buildInfo();
  return `${program} ${b.version} (${b.commit}, node ${b.node})`;
}
export const PROTOCOL_VERSION = 1;

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

export const SYNC_PROTOCOL: VersionRange = Object.freeze({ min: 1, max: 4 });

/** What an agent that sends no `idv-protocol` header speaks (one from before version ranges). */
export const LEGACY_SYNC_PROTOCOL: VersionRange = Object.freeze({ min: 1, max: 1 });

/** The upgrade request header in which an agent says its range. */
export const PROTOCOL_HEADER = 'idv-protocol';

/** The upgrade URL's query parameter that says it again, for proxies that drop the header. */
export const PROTOCOL_QUERY = 'protocol';

const MAX_VERSION = 65_535;

/** `"1-2"` (or `"2"`) → a range; null when malformed or empty. */
export function parseRange(text: string): VersionRange | null {
  const m = /^([1-9][0-9]{0,4})(?:-([1-9][0-9]{0,4}))?$/.exec(text.trim());
  if (!m) return null;
  const min = Number(m[1]);
  const max = Number(m[2] ?? m[1]);
  if (min > max || max > MAX_VERSION) return null;
  return Object.freeze({ min, max });
}

/**
 * What an agent offered in its upgrade request: the `idv-protocol` header when present, else the
 * URL's `protocol` query, else nothing (`said: false`: an agent from before ranges, version 1).
 * A malformed value in either, or either given twice, is refused even when the other is good:
 * `message` says which, and `raw` is a cut of the value for the log.
 */
export type Offer =
  | { readonly ok: true; readonly range: VersionRange; readonly said: boolean }
  | { readonly ok: false; readonly message: string; readonly raw: string };

export const LEGACY_OFFER: Offer = Object.freeze({
  ok: true,
  range: LEGACY_SYNC_PROTOCOL,
  said: false,
});

/** `header` as Node gives it (an array for a repeated header); `url` the request target. */
export function offeredRange(
  header: string | string[] | undefined,
  url: string | undefined,
): Offer {
  const q = (url ?? '').indexOf('?');
  const values = q < 0 ? [] : new URLSearchParams((url ?? '').slice(q + 1)).getAll(PROTOCOL_QUERY);
  const query = values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
  const fromHeader = check(header, `${PROTOCOL_HEADER} header`);
  const fromQuery = check(query, `${PROTOCOL_QUERY} query`);
  if (fromHeader && !fromHeader.ok) return fromHeader;
  if (fromQuery && !fromQuery.ok) return fromQuery;
  return fromHeader ?? fromQuery ?? LEGACY_OFFER;
}

function check(value: string | string[] | undefined, what: string): Offer | undefined {
  if (value === undefined) return undefined;
  const raw = (typeof value === 'string' ? value : value.join(',')).slice(0, 20);
  if (typeof value !== 'string') return { ok: false, message: `${what} given twice`, raw };
  const range = parseRange(value);
  if (!range) return { ok: false, message: `malformed ${what} (MIN-MAX expected)`, raw };
  return { ok: true, range, said: true };
}

/** `"1-2"`, or `"2"` for a one-version range. */
export function formatRange(r: VersionRange): string {
  return r.min === r.max ? String(r.min) : `${r.min}-${r.max}`;
}

/** The highest version in both ranges, or null when they do not meet. */
export function negotiate(ours: VersionRange, theirs: VersionRange): number | null {
  const v = Math.min(ours.max, theirs.max);
  return v >= Math.max(ours.min, theirs.min) ? v : null;
}

/**
 * Why two ranges do not meet, in words an operator acts on: which side to upgrade. `us` and
 * `them` name the programs ("idv-server", "this agent").
 */
export function mismatchText(
  us: { name: string; range: VersionRange },
  them: { name: string; range: VersionRange },
): string {
  const older = us.range.max < them.range.min ? us.name : them.name;
  return `${us.name} speaks sync protocol ${formatRange(us.range)}, ${them.name} ${formatRange(them.range)}: upgrade ${older}`;
}

/**
 * TEST SEAM, not a setting: `IDV_TEST_SYNC_PROTOCOL=MIN-MAX` makes this build claim another
 * range, so the tests can run an agent speaking N against a server speaking N+1 (a fake bump).
 * Only the version-range tests set it; a malformed value is refused at start.
 */
export function syncProtocolFrom(env: NodeJS.ProcessEnv): VersionRange {
  const text = env.IDV_TEST_SYNC_PROTOCOL;
  if (text === undefined || text === '') return SYNC_PROTOCOL;
  const range = parseRange(text);
  if (!range) throw new Error(`IDV_TEST_SYNC_PROTOCOL must be MIN-MAX (got ${text.slice(0, 20)})`);
  return range;
}
