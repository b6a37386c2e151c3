/** What every part of a running server shares; built once in serve.ts, no globals. */
import type { Logger } from '../protocol/io/log.js';
import type { VersionRange } from '../protocol/version.js';
import type { ServerConfig } from './config.js';
import type { EventFeed } from './feed.js';
import type { ConnectionGuard } from './http/guard.js';
import type { Mailer } from './mail/mailer.js';
import type { Metrics } from './metrics.js';
import type { SigningKey } from './signingkey.js';
import type { Staleness } from './store/staleness.js';
import type { Store } from './store/store.js';

export interface ServerContext {
  readonly config: ServerConfig;
  readonly store: Store;
  /** Epoch ms; injected so tests could fake time. */
  readonly clock: () => number;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly feed: EventFeed;
  /** Signs the snapshots and deltas of agents that verify them (server/signingkey.ts). */
  readonly signing: SigningKey;
  /** Caps the listener's connections that have not authenticated yet. */
  readonly connections: ConnectionGuard;
  /** Enrollment mail, when `mail` is configured. */
  readonly mail: Mailer | null;
  /** The sync protocol versions this server speaks (SYNC_PROTOCOL unless a test fakes a bump). */
  readonly syncProtocol: VersionRange;
  /** Whether this replica may be missing other replicas' changes (store/staleness.ts). */
  readonly staleness: Staleness;
  /** The URL users and agents reach this server at (known once listening). */
  publicUrl(): string;
}
