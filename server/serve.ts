/** Starts a server instance from a validated config; returns how to stop it. */
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../protocol/io/log.js';
import { splitListen, type ServerConfig } from './config.js';
import type { ServerContext } from './context.js';
import { openDataDir } from './datadir.js';
import { EventFeed } from './feed.js';
import { buildApp } from './http/app.js';
import { ConnectionGuard } from './http/guard.js';
import { Metrics } from './metrics.js';
import { Hub } from './sync/hub.js';

export interface RunningServer {
  url: string;
  ctx: ServerContext;
  hub: Hub;
  /** Agents told (1001), listener closed, database closed. */
  stop(): Promise<void>;
}

export async function startServer(
  config: ServerConfig,
  options: { clock?: () => number; log?: Logger } = {},
): Promise<RunningServer> {
  const log = options.log ?? createLogger('idv-server', { level: config.logLevel });
  const store = await openDataDir(config.dataDir, {
    changeLogRetention: config.changeLogRetention,
  });
  let url = '';
  const metrics = new Metrics();
  const ctx: ServerContext = {
    config,
    store,
    clock: options.clock ?? Date.now,
    log,
    metrics,
    feed: new EventFeed(),
    connections: new ConnectionGuard(
      { perAddress: config.maxConnectionsPerAddress, total: config.maxPendingConnections },
      config.tlsCert !== undefined,
      (reason) => metrics.connectionsDropped.inc({ reason }),
    ),
    publicUrl: () => (config.publicUrl ?? url).replace(/\/+$/, ''),
  };
  const hub = new Hub(ctx);
  const app = buildApp(ctx, hub);
  const { host, port } = splitListen(config.listen);
  try {
    await app.listen({ host, port });
  } catch (err) {
    await store.close();
    throw err;
  }
  const addr = app.server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  url = `${config.tlsCert ? 'https' : 'http'}://${shownHost}:${addr.port}`;
  log.info({ url, revision: await store.revision() }, 'listening');
  let stopping: Promise<void> | null = null;
  return {
    url,
    ctx,
    hub,
    stop: () =>
      (stopping ??= (async () => {
        await hub.shutdown();
        ctx.feed.end();
        await app.close();
        await store.close();
        log.info('stopped');
      })()),
  };
}
