/**
 * `idv-agent run`: open the cache, start the live sync, answer the local socket; stop cleanly on
 * SIGTERM/SIGINT. The ready line on stdout is printed once the socket is listening.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { IdvError } from '../protocol/errors.js';
import { ensurePrivateDir, readPrivateFile } from '../protocol/io/files.js';
import type { Logger } from '../protocol/io/log.js';
import type { DeviceFacts, StatusReport } from '../protocol/messages.js';
import { buildInfo, syncProtocolFrom } from '../protocol/version.js';
import { systemBoot } from './clock/boot.js';
import { TrustedClock } from './clock/trusted.js';
import { loadAgentFile, serversOf, type AgentFile, type AgentPaths } from './config.js';
import { SyncClient } from './controlclient/connection.js';
import { checkTransport } from './controlclient/register.js';
import { PolicyVerifier, signatureStatus } from './controlclient/signature.js';
import { collectFacts } from './facts.js';
import { activatedSocket, listenLocal, type LocalApi } from './localapi/server.js';
import { LoginEngine } from './policy/engine.js';
import { Cache } from './store/cache.js';
import { CacheCipher, loadOrCreateCacheKey } from './store/crypto.js';
import { failpointsFromEnv, type Failpoints } from './store/failpoint.js';

export interface Agent {
  status(): Promise<StatusReport>;
  stop(): Promise<void>;
}

export function loadDeviceKey(path: string): KeyObject {
  try {
    const key = createPrivateKey(readPrivateFile(path));
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key');
    return key;
  } catch (err) {
    if (err instanceof IdvError) throw err;
    throw new IdvError('CONFIG_INVALID', `${path}: ${(err as Error).message}`);
  }
}

export function loadCa(config: AgentFile): Buffer | undefined {
  if (config.ca === undefined) return undefined;
  try {
    return readFileSync(config.ca);
  } catch (err) {
    throw new IdvError(
      'CONFIG_INVALID',
      `cannot read the CA file ${config.ca}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
}

export async function openCache(
  paths: AgentPaths,
  failpoints: Failpoints | null = null,
): Promise<Cache> {
  ensurePrivateDir(paths.dataDir);
  const cipher = new CacheCipher(loadOrCreateCacheKey(paths.cacheKey));
  return Cache.open(paths.cacheDb, cipher, failpoints);
}

/**
 * The time logins are decided by (agent/clock/trusted.ts), its reading kept in the cache.
 * IDV_BOOT_ID_FILE replaces /proc/sys/kernel/random/boot_id (a test seam: tests cannot reboot).
 */
export function openClock(
  cache: Cache,
  wall: () => number = Date.now,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TrustedClock> {
  return TrustedClock.open(systemBoot(env.IDV_BOOT_ID_FILE || undefined), wall, {
    load: () => cache.getMeta('clock'),
    save: (r) => cache.setMeta('clock', r),
  });
}

/** What the live sync says in `status` (null when the agent is not running). */
export type SyncState = Pick<
  SyncClient,
  | 'connected'
  | 'server'
  | 'protocol'
  | 'syncError'
  | 'uploadError'
  | 'staleSince'
  | 'outages'
  | 'moves'
  | 'serverStaleSince'
>;

export async function statusOf(
  cache: Cache,
  engine: LoginEngine,
  config: AgentFile | null,
  sync: SyncState | null,
  clock?: TrustedClock,
): Promise<StatusReport> {
  const s = cache.state;
  const signing = await signatureStatus(cache, config?.signingKey);
  const time = clock?.view();
  return {
    type: 'status',
    server: sync?.server ?? config?.server ?? null,
    ...(config ? { servers: [...serversOf(config)] } : {}),
    deviceId: config?.deviceId ?? null,
    connected: sync?.connected ?? false,
    ...(sync
      ? {
          protocol: sync.protocol,
          syncError: sync.syncError,
          staleSince: sync.staleSince === null ? null : new Date(sync.staleSince).toISOString(),
          uploadError: sync.uploadError && {
            ...sync.uploadError,
            at: new Date(sync.uploadError.at).toISOString(),
            retryAt: new Date(sync.uploadError.retryAt).toISOString(),
          },
          outages: sync.outages,
          moves: sync.moves,
          serverStaleSince:
            sync.serverStaleSince === null ? null : new Date(sync.serverStaleSince).toISOString(),
        }
      : {}),
    ...buildInfo(),
    revision: s.revision,
    users: await cache.userCount(),
    lastSyncAt: s.lastSyncAt === null ? null : new Date(s.lastSyncAt).toISOString(),
    locked: await engine.lockedUsers(),
    outbox: await cache.outboxCount(),
    revoked: cache.revoked,
    ...(cache.diskFull
      ? {
          diskFull: {
            since: new Date(cache.diskFull.since).toISOString(),
            refusedLogins: cache.diskFull.refused,
            cause: cache.diskFull.cause,
          },
        }
      : {}),
    signingKey: signing.signingKey,
    refusedUpdates: signing.refusedUpdates,
    lastRefusal: signing.lastRefusal && {
      at: new Date(signing.lastRefusal.at).toISOString(),
      reason: signing.lastRefusal.reason,
    },
    ...(time
      ? {
          clock: {
            source: time.source,
            offsetSeconds: time.offsetMs === null ? null : Math.round(time.offsetMs / 100) / 10,
            syncedAt: time.syncedAt === null ? null : new Date(time.syncedAt).toISOString(),
          },
        }
      : {}),
  };
}

export async function startAgent(
  paths: AgentPaths,
  log: Logger,
  wall: () => number = Date.now,
): Promise<Agent> {
  const config = loadAgentFile(paths.agentFile);
  // agent.json edited to plain http off loopback: the same rule as at registration.
  for (const server of serversOf(config)) checkTransport(server, config.insecure);
  const privateKey = loadDeviceKey(paths.deviceKey);
  const ca = loadCa(config);
  const cache = await openCache(paths, failpointsFromEnv(process.env, log));
  // Every time the agent decides by (codes, lockouts, the cache's age, events) is this one.
  const clock = await openClock(cache, wall);
  const now = clock.now;
  let facts: DeviceFacts | undefined;
  void collectFacts().then((f) => {
    facts = f;
  });

  const sync = new SyncClient({
    config,
    cache,
    verifier: await PolicyVerifier.open(cache, config.deviceId, config.signingKey, log),
    privateKey,
    ca,
    now,
    log,
    facts: () => facts,
    ...(config.heartbeatSeconds !== undefined
      ? { heartbeatMs: config.heartbeatSeconds * 1000 }
      : {}),
    ...(config.pongTimeoutSeconds !== undefined
      ? { pongTimeoutMs: config.pongTimeoutSeconds * 1000 }
      : {}),
    backoff: { baseMs: config.backoffBaseMs ?? 500, capMs: config.backoffCapMs ?? 30_000 },
    ...(config.probeMs !== undefined ? { probeMs: config.probeMs } : {}),
    ...(config.movedJitterMs !== undefined ? { movedJitterMs: config.movedJitterMs } : {}),
    protocol: syncProtocolFrom(process.env),
    clock,
  });
  const engine = new LoginEngine({
    cache,
    now,
    connected: () => sync.connected,
    log,
    // A code check's event goes to the server at once (it raises the fleet-wide replay guard or
    // spends the account's budget); the rest waits 200 ms for company.
    onEvent: (urgent) => (urgent ? sync.flushEvents() : sync.scheduleUpload()),
    clock,
  });
  const status = () => statusOf(cache, engine, config, sync, clock);
  let api: LocalApi;
  try {
    const listenFd = activatedSocket();
    if (listenFd !== null)
      log.info({ socket: paths.socket }, 'local socket from systemd (socket activation)');
    api = await listenLocal({ socketPath: paths.socket, deps: { engine, status }, log, listenFd });
  } catch (err) {
    await cache.close();
    throw err;
  }
  sync.start();
  log.info(
    { socket: paths.socket, servers: serversOf(config), deviceId: config.deviceId },
    'agent started',
  );
  return {
    status,
    async stop() {
      await api.close();
      await sync.stop();
      await cache.close();
    },
  };
}
