/** Starts a server instance from a validated config; returns how to stop it. */
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../protocol/io/log.js';
import { plainHttpOffLoopback, splitListen, type ServerConfig } from './config.js';
import type { ServerContext } from './context.js';
import type { Store } from './store/store.js';
import { openDataDir } from './datadir.js';
import { DirectorySync } from './directory/sync.js';
import { EventFeed } from './feed.js';
import { Forwarder } from './forward/forwarder.js';
import { InternalCaller } from './http/actor.js';
import { buildApp, servedRoutes } from './http/app.js';
import { ConnectionGuard } from './http/guard.js';
import { Mailer } from './mail/mailer.js';
import { Metrics } from './metrics.js';
import { openSigningKey } from './signingkey.js';
import { PgNoticeListener } from './store/listen-pg.js';
import { Staleness } from './store/staleness.js';
import { Hub } from './sync/hub.js';
import { syncProtocolFrom } from '../protocol/version.js';

/** How long a stop lets requests in flight finish before it closes every connection. */
const STOP_GRACE_MS = 5000;

export interface RunningServer {
  url: string;
  /** What `serve` warned about at start (also in the log). */
  warnings: string[];
  ctx: ServerContext;
  hub: Hub;
  /** Every HTTP route served (method, pattern): for the OpenAPI document's test. */
  routes(): readonly { method: string; url: string }[];
  /** The console's in-process way into the API (tests call routes as a named admin). */
  internal: InternalCaller;
  /** Agents told to move (1012), listener closed, database closed. */
  stop(): Promise<void>;
}

export async function startServer(
  config: ServerConfig,
  options: { clock?: () => number; log?: Logger } = {},
): Promise<RunningServer> {
  const log = options.log ?? createLogger('idv-server', { level: config.logLevel });
  const store = await openDataDir(config.dataDir, {
    database: config.database,
    changeLogRetention: config.changeLogRetention,
    onConnectionError: (reason) => log.warn({ reason }, 'database connection lost while idle'),
  });
  let signing;
  try {
    signing = openSigningKey(config.dataDir);
  } catch (err) {
    await store.close();
    throw err;
  }
  if (signing.created) {
    log.warn(
      { signingKey: signing.key.publicKey },
      'this data directory had no policy signing key: created signing.json (back it up with master.key). Agents registered before now have no key pinned: they pin this one at their next connection',
    );
  }
  let url = '';
  const metrics = new Metrics();
  const clock = options.clock ?? Date.now;
  let integrations;
  try {
    integrations = startIntegrations(config, store, log, clock);
  } catch (err) {
    await store.close();
    throw err;
  }
  const { mail, forwarder } = integrations;
  const feed = new EventFeed(store, (err) =>
    log.error(
      { err: { name: (err as Error)?.name, message: (err as Error)?.message } },
      'events feed failed',
    ),
  );
  const ctx: ServerContext = {
    config,
    store,
    clock,
    log,
    metrics,
    feed,
    mail,
    signing: signing.key,
    connections: new ConnectionGuard(
      { perAddress: config.maxConnectionsPerAddress, total: config.maxPendingConnections },
      config.tlsCert !== undefined,
      (reason) => metrics.connectionsDropped.inc({ reason }),
    ),
    syncProtocol: syncProtocolFrom(process.env),
    staleness: new Staleness(),
    publicUrl: () => (config.publicUrl ?? url).replace(/\/+$/, ''),
  };
  const hub = new Hub(ctx);
  // Pushes, revocations and the events feed follow the store's "committed" notices (whichever
  // replica committed), not the request that made the change.
  const unfollow = [
    hub.follow(store.notices),
    store.notices.subscribe((n) => {
      if (n.kind === 'events') void feed.committed(n.seq);
      else if (n.kind === 'resync') void feed.committed();
    }),
  ];
  // With PostgreSQL, what other replicas commit arrives by LISTEN (store/listen-pg.ts).
  const listener = config.database
    ? new PgNoticeListener(
        config.database,
        store.notices,
        log.child({ part: 'notices' }),
        ctx.staleness,
        clock,
      )
    : null;
  let directory: DirectorySync | null = null;
  try {
    directory = config.directory ? new DirectorySync(ctx, hub, config.directory) : null;
  } catch (err) {
    for (const u of unfollow) u();
    await store.close();
    throw err;
  }
  const internal = new InternalCaller();
  const app = buildApp(ctx, hub, { directory, forwarder }, internal);
  const { host, port } = splitListen(config.listen);
  try {
    await listener?.start();
    await feed.start();
    await app.listen({ host, port });
  } catch (err) {
    await listener?.stop();
    await store.close();
    throw err;
  }
  mail?.start();
  forwarder?.start();
  directory?.start();
  const addr = app.server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  url = `${config.tlsCert ? 'https' : 'http'}://${shownHost}:${addr.port}`;
  log.info({ url, backend: store.backend, revision: await store.revision() }, 'listening');
  const warnings = startWarnings(config, addr.address);
  for (const w of warnings) log.warn(w);
  ctx.metrics.insecure.set(plainHttpOffLoopback(config) ? 1 : 0);
  let stopping: Promise<void> | null = null;
  return {
    url,
    warnings,
    ctx,
    hub,
    routes: () => servedRoutes(app),
    internal,
    stop: () =>
      (stopping ??= (async () => {
        await directory?.stop();
        // No new pushes or feed reads from here: the store closes at the end.
        for (const u of unfollow) u();
        await hub.shutdown();
        const fed = ctx.feed.end();
        // Requests in flight get a few seconds; then every connection is cut, so a stop never
        // waits out a keep-alive (a follower of /v1/events/stream that went away held one 70 s).
        const grace = setTimeout(() => app.server.closeAllConnections(), STOP_GRACE_MS);
        await app.close();
        clearTimeout(grace);
        await forwarder?.stop();
        await mail?.stop();
        await listener?.stop();
        await fed;
        await store.close();
        log.info('stopped');
      })()),
  };
}

/** Mail and forwarding, built (their secret files read) before anything listens. */
function startIntegrations(
  config: ServerConfig,
  store: Store,
  log: Logger,
  clock: () => number,
): { mail: Mailer | null; forwarder: Forwarder | null } {
  const mail = config.mail
    ? new Mailer(config.mail, store.integrations, log.child({ part: 'mail' }), clock, config.issuer)
    : null;
  const forwarder = config.forward
    ? new Forwarder(config.forward, store, log.child({ part: 'forward' }), clock)
    : null;
  return { mail, forwarder };
}

/**
 * What an admin must hear at start: plain http by choice (--insecure), and enrollment links that
 * would point at a wildcard address (0.0.0.0 is no address a user's browser can open).
 */
export function startWarnings(config: ServerConfig, boundAddress: string): string[] {
  const warnings: string[] = [];
  if (plainHttpOffLoopback(config)) {
    warnings.push(
      'INSECURE: --insecure serves plain http: admin tokens, enrollment links, secrets and codes cross the network unencrypted unless a proxy on this host terminates TLS in front of it (also shown in /healthz and /metrics)',
    );
  }
  if (!config.publicUrl && (boundAddress === '0.0.0.0' || boundAddress === '::')) {
    warnings.push(
      `enrollment links would point at the wildcard address ${boundAddress}, which no browser can open: set --public-url URL (or IDV_PUBLIC_URL) to the address users reach this server at`,
    );
  }
  return warnings;
}
