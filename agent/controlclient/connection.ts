/**
 * The live sync: one WebSocket to {server}/v1/agent.
 *
 *   challenge → hello (Ed25519 signature over helloSigningInput, last applied revision)
 *   snapshot | delta → apply in one transaction → ack
 *   events (outbox batches, one in flight) → eventsAck → delete from the outbox
 *
 * Liveness (liveness.ts): the server pings, and the agent pings too; any frame counts as a sign
 * of life. A ping left without any answer for pongTimeoutMs makes the connection stale: it is
 * terminated and redialled, and `status` says since when the server was silent. Where and when to
 * redial (the server list, backoff with full jitter, probes, a server's planned restart) is
 * reconnect.ts.
 *
 * Versions: the upgrade request says the sync protocol range this agent speaks (header
 * `idv-protocol` and query `?protocol=`, which survives proxies that drop the header); the
 * challenge says the server's (absent: a server from before ranges, which
 * speaks 1). The connection speaks the highest version in both, or the agent refuses with 4406
 * and says which side to upgrade in `status` and the log. What it receives is checked against
 * that version, and what it sends is cut down to it (protocol/compat.ts).
 *
 * A REVOKED close stops the client for good (the device must be registered again): the cache
 * records it durably and from that moment every login that needs a code is refused
 * (agent/policy/decide.ts); a restart does not connect again.
 */
import { performance } from 'node:perf_hooks';
import type { KeyObject } from 'node:crypto';
import { sign } from 'node:crypto';
import WebSocket from 'ws';
import { IdvError } from '../../protocol/errors.js';
import type { Logger } from '../../protocol/io/log.js';
import {
  CLOSE,
  helloSigningInput,
  LIMITS,
  MAX_EVENTS_PER_BATCH,
  parseServerToAgent,
  type AgentToServer,
  type DeviceFacts,
  type ServerToAgent,
} from '../../protocol/messages.js';
import { eventsForSession, fieldsForSession, fromSession, speaks } from '../../protocol/compat.js';
import {
  formatRange,
  IDV_VERSION,
  LEGACY_SYNC_PROTOCOL,
  mismatchText,
  negotiate,
  PROTOCOL_HEADER,
  PROTOCOL_QUERY,
  PROTOCOL_VERSION,
  SYNC_PROTOCOL,
  type VersionRange,
} from '../../protocol/version.js';
import { serversOf, type AgentFile } from '../config.js';
import type { Cache } from '../store/cache.js';
import { diskFullError, noSpace } from '../store/diskfull.js';
import { applyUpdate } from './apply.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { httpsAgentFor, VERIFY_TLS } from './http.js';
import {
  closeKind,
  DEFAULT_MOVED_JITTER_MS,
  DEFAULT_PROBE_MS,
  Reconnector,
  refusal,
  uploadRefusal,
} from './reconnect.js';
import { DEFAULT_PING_MS, DEFAULT_PONG_TIMEOUT_MS, Liveness } from './liveness.js';
import { endpoint } from './register.js';
import type { PolicyVerifier } from './signature.js';
import { UploadRetry, type UploadError } from './upload.js';

export interface SyncOptions {
  config: Readonly<AgentFile>;
  cache: Cache;
  /** Checks every snapshot/delta's signature before it is applied (./signature.ts). */
  verifier: PolicyVerifier;
  privateKey: KeyObject;
  ca?: Buffer | undefined;
  now: () => number;
  log: Logger;
  facts?: () => DeviceFacts | undefined;
  backoff?: BackoffOptions;
  /** The agent pings every heartbeatMs (liveness.ts). */
  heartbeatMs?: number;
  /** A ping without any answer for this long makes the connection stale (ms). */
  pongTimeoutMs?: number;
  /** How long new events wait to be batched before an upload (ms). */
  uploadDelayMs?: number;
  /** Mean interval of the /healthz probes while waiting to reconnect (ms; 0 = off). */
  probeMs?: number;
  /** The most a moved agent waits before dialling its single server again (ms). */
  movedJitterMs?: number;
  /** The sync protocol versions spoken (SYNC_PROTOCOL unless a test fakes a bump). */
  protocol?: VersionRange;
  /** Told the server's time at each challenge and eventsAck (agent/clock/trusted.ts). */
  clock?: { observe(serverTime: number): Promise<void> };
}

/** Why the sync is not working, while it lasts. */
export interface SyncError {
  code: string;
  message: string;
}

/** `revoked`: the server said so (sync protocol 3); the outbox goes up one last time. */
type Phase = 'idle' | 'connecting' | 'challenged' | 'syncing' | 'ready' | 'revoked';

/** The close code the agent sends when a message from the server fails. */
const AGENT_CLOSE: Partial<Record<string, number>> = {
  OUT_OF_ORDER: CLOSE.OUT_OF_ORDER,
  PROTOCOL_VERSION: CLOSE.PROTOCOL_VERSION,
};

export class SyncClient {
  #ws: WebSocket | null = null;
  #phase: Phase = 'idle';
  #stopped = false;
  readonly #reconnect: Reconnector;
  readonly #range: VersionRange;
  /** The version of the current connection, once its challenge was answered. */
  #protocol: number | null = null;
  #syncError: SyncError | null = null;
  /** The last network error of the current dial (ECONNREFUSED, ...). */
  #netError: string | null = null;
  #outages = 0;
  #moves = 0;
  /** A server asked us to move (1012) and we are not in sync again yet. */
  #moving = false;
  /** This agent refused the current connection (its syncError says why). */
  #refusedByUs = false;
  #revoked = false;
  /** The connected server said it may be missing other replicas' changes since then (ms). */
  #serverStaleSince: number | null = null;
  #inFlight = false;
  /** The batch in flight was sent on this connection and waits for its eventsAck. */
  #sent = false;
  readonly #upload: UploadRetry;
  #retryTimer: NodeJS.Timeout | null = null;
  #liveness: Liveness | null = null;
  /** The last sign of life of a connection found stale (epoch ms); cleared once in sync again. */
  #staleSince: number | null = null;
  #lastTouch = 0;
  #uploadTimer: NodeJS.Timeout | null = null;
  readonly #uploadDelayMs: number;
  #chain: Promise<void> = Promise.resolve();
  #clockOffsetMs: number | null = null;
  readonly #heartbeatMs: number;
  readonly #pongTimeoutMs: number;
  readonly #log: Logger;

  constructor(private readonly opts: SyncOptions) {
    this.#heartbeatMs = opts.heartbeatMs ?? DEFAULT_PING_MS;
    this.#pongTimeoutMs = opts.pongTimeoutMs ?? DEFAULT_PONG_TIMEOUT_MS;
    this.#uploadDelayMs = opts.uploadDelayMs ?? 200;
    this.#range = opts.protocol ?? SYNC_PROTOCOL;
    this.#upload = new UploadRetry(opts.backoff ?? DEFAULT_BACKOFF, opts.now);
    this.#log = opts.log.child({ component: 'sync', deviceId: opts.config.deviceId });
    this.#reconnect = new Reconnector({
      servers: serversOf(opts.config),
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      probeMs: opts.probeMs ?? DEFAULT_PROBE_MS,
      movedJitterMs: opts.movedJitterMs ?? DEFAULT_MOVED_JITTER_MS,
      ca: opts.ca,
      log: this.#log,
    });
  }

  /** The server in use, or the one dialled next. */
  get server(): string {
    return this.#reconnect.current;
  }
  /** The sync protocol version of the current connection; null when not connected. */
  get protocol(): number | null {
    return this.#phase === 'ready' ? this.#protocol : null;
  }
  get syncError(): SyncError | null {
    return this.#syncError;
  }
  /**
   * When the server was last heard from, if the connection went silent (a ping without answer)
   * and no connection reached sync since: the agent dropped it and redials.
   */
  get staleSince(): number | null {
    return this.#staleSince;
  }
  /** Why the last upload failed and when the next goes, until an upload is acknowledged. */
  get uploadError(): UploadError | null {
    return this.#upload.error;
  }
  /** Connections lost without notice since start (a planned server restart is not one). */
  get outages(): number {
    return this.#outages;
  }
  /** Times a server asked this agent to move (planned restart, close 1012). */
  get moves(): number {
    return this.#moves;
  }

  /** True once the current connection delivered its first snapshot/delta. */
  get connected(): boolean {
    return this.#phase === 'ready';
  }
  get revoked(): boolean {
    return this.#revoked;
  }
  /**
   * While the connected server says it is stale (cut from the database): the moment it last
   * heard the others (epoch ms), else null.
   */
  get serverStaleSince(): number | null {
    return this.#phase === 'ready' ? this.#serverStaleSince : null;
  }
  /** Server clock minus ours at the last challenge (ms), null before the first. */
  get clockOffsetMs(): number | null {
    return this.#clockOffsetMs;
  }

  start(): void {
    this.#stopped = false;
    if (this.opts.cache.revoked) {
      this.#revoked = true;
      this.#log.error(
        'this device was revoked by the server: not connecting; logins that need a code are refused. Register again (in a fresh data directory) to resume.',
      );
      return;
    }
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#reconnect.cancel();
    if (this.#uploadTimer) clearTimeout(this.#uploadTimer);
    this.#uploadTimer = null;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const ws = this.#ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000);
        ws.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        ws.close(CLOSE.GOING_AWAY, 'agent stopping');
      });
    }
    await this.#chain.catch(() => undefined);
  }

  /**
   * Ask for an upload soon: decisions arriving within `uploadDelayMs` go out as one batch, so a
   * burst of logins costs one upload and one outbox delete, off the path of the answers.
   */
  scheduleUpload(): void {
    if (this.#uploadTimer || this.#phase !== 'ready') return;
    this.#uploadTimer = setTimeout(() => {
      this.#uploadTimer = null;
      this.flushEvents();
    }, this.#uploadDelayMs);
  }

  /**
   * Upload queued events when online; at most one batch waits for its eventsAck. After a failed
   * upload the next waits for its backoff (./upload.ts).
   */
  flushEvents(): void {
    if (!this.#uploading() || this.#inFlight) return;
    const wait = this.#upload.wait();
    if (wait > 0) {
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = null;
        this.flushEvents();
      }, wait);
      return;
    }
    this.#inFlight = true;
    this.#chain = this.#chain.then(async () => {
      try {
        const events = await this.opts.cache.outboxBatch(MAX_EVENTS_PER_BATCH);
        if (events.length === 0 || !this.#uploading()) {
          this.#inFlight = false;
          // A revoked device's last upload is done: nothing more to say to the server.
          const ws = this.#ws;
          if (events.length === 0 && this.#phase === 'revoked' && ws)
            this.#fail(ws, CLOSE.NORMAL, 'revoked: outbox delivered');
          return;
        }
        this.#sent = true;
        this.#send({ type: 'events', events: eventsForSession(events, this.#protocol ?? 1) });
      } catch (err) {
        this.#inFlight = false;
        this.#log.error({ err: (err as Error).message }, 'cannot read the outbox');
      }
    });
  }

  /** Uploads go out in sync, and on a revoked device's last connection. */
  #uploading(): boolean {
    return this.#phase === 'ready' || this.#phase === 'revoked';
  }

  #connect(): void {
    if (this.#stopped || this.#revoked) return;
    this.#phase = 'connecting';
    this.#protocol = null;
    this.#serverStaleSince = null;
    this.#netError = null;
    this.#refusedByUs = false;
    const url = endpoint(this.#reconnect.current, 'agent', 'ws');
    // Said twice: the query survives a proxy that passes only the headers it knows.
    url.searchParams.set(PROTOCOL_QUERY, formatRange(this.#range));
    const agent = url.protocol === 'wss:' ? httpsAgentFor(this.opts.ca) : undefined;
    const ws = new WebSocket(url, {
      headers: { [PROTOCOL_HEADER]: formatRange(this.#range) },
      perMessageDeflate: false,
      maxPayload: LIMITS.serverToAgent,
      handshakeTimeout: 10_000,
      ...(url.protocol === 'wss:' ? VERIFY_TLS : {}),
      ...(agent ? { agent } : {}),
    });
    this.#ws = ws;
    const liveness = this.#livenessOf(ws);
    const alive = () => liveness.alive();
    ws.on('open', () => {
      this.#phase = 'challenged';
      this.#liveness?.stop();
      this.#liveness = liveness;
      liveness.start();
    });
    ws.on('ping', alive);
    ws.on('pong', alive);
    ws.on('message', (data, isBinary) => {
      alive();
      if (isBinary) return this.#fail(ws, CLOSE.MALFORMED, 'binary frame');
      const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      // Checked and completed for the session's version first (protocol/compat.ts).
      const version = this.#protocol;
      const parsed = parseServerToAgent(
        raw,
        version === null ? undefined : (d) => fromSession(d, version),
      );
      if (!parsed.ok) {
        this.#log.warn(
          { errorCode: parsed.error.code, reason: parsed.error.message },
          'bad frame from server',
        );
        return this.#fail(
          ws,
          parsed.error.code === 'TOO_LARGE'
            ? CLOSE.TOO_LARGE
            : parsed.error.code === 'PROTOCOL_VERSION'
              ? CLOSE.PROTOCOL_VERSION
              : CLOSE.MALFORMED,
          parsed.error.code,
        );
      }
      this.#chain = this.#chain
        .then(() => this.#handle(ws, parsed.value))
        .catch((err: unknown) => {
          const cause = noSpace(err);
          const code = cause ? 'DISK_FULL' : err instanceof IdvError ? err.code : 'INTERNAL';
          this.#log.warn(
            { errorCode: code, reason: (err as Error).message },
            'sync message failed; reconnecting',
          );
          // Our own failure, not the server's refusal: status names it as such.
          if (ws === this.#ws) {
            this.#refusedByUs = true;
            this.#syncError = {
              code,
              message: cause
                ? diskFullError(
                    cause,
                    this.opts.cache.path,
                    `the agent cannot apply the server's ${parsed.value.type}; logins are decided on the cache it has`,
                  ).message
                : `this agent could not handle the server's ${parsed.value.type}: ${(err as Error).message}`.slice(
                    0,
                    512,
                  ),
            };
          }
          this.#fail(ws, AGENT_CLOSE[code] ?? CLOSE.INTERNAL, code);
        });
    });
    ws.on('error', (err) => {
      this.#netError = (err as NodeJS.ErrnoException).code ?? err.message.slice(0, 200);
      this.#log.debug({ reason: this.#netError, server: this.server }, 'sync connection error');
    });
    ws.on('close', (code, reason) => this.#closed(ws, code, reason.toString('utf8').slice(0, 120)));
  }

  async #handle(ws: WebSocket, msg: ServerToAgent): Promise<void> {
    if (ws !== this.#ws) return;
    switch (msg.type) {
      case 'challenge': {
        if (this.#phase !== 'challenged')
          throw new IdvError('OUT_OF_ORDER', 'unexpected challenge');
        this.#clockOffsetMs = msg.serverTime - this.opts.now();
        await this.#observe(msg.serverTime);
        const theirs = msg.protocol ?? LEGACY_SYNC_PROTOCOL;
        this.#protocol = negotiate(this.#range, theirs);
        if (this.#protocol === null) {
          const message = mismatchText(
            { name: 'this agent', range: this.#range },
            { name: `the server at ${this.server}`, range: theirs },
          );
          this.#syncError = { code: 'PROTOCOL_VERSION', message };
          this.#refusedByUs = true;
          this.#log.error({ server: this.server }, message);
          const told = mismatchText(
            { name: 'the agent', range: this.#range },
            { name: 'idv-server', range: theirs },
          );
          return this.#fail(ws, CLOSE.PROTOCOL_VERSION, `PROTOCOL_VERSION: ${told}`);
        }
        if (!speaks(this.#protocol, 'signed') && this.opts.verifier.pinned !== null)
          return this.#refuseUnsigned(ws, theirs === LEGACY_SYNC_PROTOCOL);
        const { deviceId } = this.opts.config;
        const signature = sign(
          null,
          helloSigningInput(msg.nonce, deviceId),
          this.opts.privateKey,
        ).toString('base64url');
        const facts = this.opts.facts?.();
        this.#send({
          type: 'hello',
          v: PROTOCOL_VERSION,
          deviceId,
          signature,
          revision: this.opts.cache.state.policy === null ? 0 : this.opts.cache.state.revision,
          agentVersion: IDV_VERSION,
          ...(facts ? { facts } : {}),
          nonce: this.opts.verifier.begin(msg.nonce),
        });
        this.#phase = 'syncing';
        return;
      }
      case 'signingKeys':
        return this.opts.verifier.rotate(msg);
      case 'revoked':
        // The answer to our hello: recorded as for the REVOKED close, then the outbox (logins
        // decided before we knew) goes up for the audit trail; nothing else comes.
        if (this.#phase !== 'syncing') throw new IdvError('OUT_OF_ORDER', 'unexpected revoked');
        this.#phase = 'revoked';
        this.#revoked = true;
        this.#log.error(
          'the server revoked this device: uploading the logins decided meanwhile, then no more syncing; every login that needs a code is refused from now on. Register again (in a fresh data directory) to resume.',
        );
        try {
          await this.opts.cache.markRevoked();
        } catch (err) {
          this.#log.error({ err: (err as Error).message }, 'cannot record the revocation');
        }
        this.flushEvents();
        return;
      case 'helpdeskSecret':
        return this.#keepHelpdesk(msg.secret);
      case 'serverStatus':
        if (msg.staleSince !== null && this.#serverStaleSince === null)
          this.#log.warn(
            { server: this.server, since: new Date(msg.staleSince).toISOString() },
            'the server says it is cut from its database: changes made through other servers do not reach this agent until it is back',
          );
        else if (msg.staleSince === null && this.#serverStaleSince !== null)
          this.#log.info({ server: this.server }, 'the server hears its database again');
        this.#serverStaleSince = msg.staleSince;
        return;
      case 'snapshot':
      case 'delta':
      case 'signed': {
        if (this.#phase !== 'syncing' && this.#phase !== 'ready')
          throw new IdvError('OUT_OF_ORDER', `${msg.type} before hello`);
        const update = await this.opts.verifier.accept(msg, this.opts.now());
        if (update === null) return this.#fail(ws, CLOSE.BAD_SIGNATURE, 'BAD_SIGNATURE');
        const ack = await applyUpdate(this.opts.cache, update, this.opts.now(), this.#log);
        this.#send(ack);
        if (this.#phase !== 'ready') {
          this.#phase = 'ready';
          this.#reconnect.synced();
          this.#syncError = null;
          this.#staleSince = null;
          this.#moving = false;
          this.#lastTouch = performance.now();
          this.#log.info(
            { revision: update.revision, server: this.server, protocol: this.#protocol },
            'in sync with the server',
          );
          this.flushEvents();
        }
        return;
      }
      case 'eventsAck': {
        if (msg.serverTime !== undefined) await this.#observe(msg.serverTime);
        this.#sent = false;
        this.#upload.succeeded();
        await this.opts.cache.deleteEvents(msg.ids);
        this.#inFlight = false;
        this.flushEvents();
        return;
      }
    }
  }

  /**
   * A device registered before helpdesk codes gets its secret from the server (sync protocol 4,
   * issue 26): kept as registration keeps it (sealed in the cache), then acknowledged, after
   * which the server issues codes for this device. A failed save sends no ack: the server sends
   * it again on the next connection.
   */
  async #keepHelpdesk(secret: string): Promise<void> {
    if (this.#phase !== 'ready' || !speaks(this.#protocol ?? 1, 'helpdeskSecret'))
      throw new IdvError('OUT_OF_ORDER', 'unexpected helpdeskSecret');
    await this.opts.cache.setHelpdeskKey({
      deviceId: this.opts.config.deviceId,
      secret: Buffer.from(secret, 'base64url'),
    });
    this.#send({ type: 'helpdeskAck' });
    this.#log.info('this device got its helpdesk secret: helpdesk codes work here from now on');
  }

  /** The server's time, for the trusted clock; a failed save only costs the persisted copy. */
  async #observe(serverTime: number): Promise<void> {
    try {
      await this.opts.clock?.observe(serverTime);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'cannot save the server time reading');
    }
  }

  /** Sends `msg` with the keys the connection's version knows (hello.nonce only on 2 and up). */
  #send(msg: AgentToServer): void {
    const ws = this.#ws;
    if (ws && ws.readyState === WebSocket.OPEN)
      ws.send(JSON.stringify(fieldsForSession(msg, this.#protocol ?? 1)));
  }

  /**
   * Signed policy needs sync protocol 2 (`signed`, hello.nonce): on an older session a pinned
   * agent would get unsigned policy, which it never applies. It refuses the session instead
   * (4406, so the server logs the reason) and says why in `status`; the cache keeps deciding.
   * `legacy`: the challenge had no range, so the server is from before ranges or a proxy in
   * between dropped both the agent's idv-protocol header and the URL's protocol query (the
   * server then took it for an old agent).
   */
  #refuseUnsigned(ws: WebSocket, legacy: boolean): void {
    const hint = legacy
      ? ` A server of this release speaks 2: if it is one, a proxy or load balancer in between drops both the ${PROTOCOL_HEADER} header and the ${PROTOCOL_QUERY} query of the upgrade request; let one of them pass (docs/server.md, "Behind a reverse proxy").`
      : ' Upgrade idv-server.';
    const message = `the server at ${this.server} serves sync protocol ${this.#protocol} on this connection, and signed policy needs 2: this agent pinned the server's signing key and applies no unsigned policy, so it keeps its cache and retries.${hint}`;
    this.#syncError = { code: 'PROTOCOL_VERSION', message };
    this.#refusedByUs = true;
    this.#log.error({ server: this.server, protocol: this.#protocol }, message);
    this.#fail(
      ws,
      CLOSE.PROTOCOL_VERSION,
      legacy
        ? `PROTOCOL_VERSION: signed policy needs sync protocol 2, served 1 (${PROTOCOL_HEADER} header and query dropped by a proxy?)`
        : `PROTOCOL_VERSION: signed policy needs sync protocol 2, served ${this.#protocol}: upgrade idv-server`,
    );
  }

  #fail(ws: WebSocket, code: number, reason: string): void {
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      try {
        ws.close(code, reason);
      } catch {
        ws.terminate();
      }
      // A peer that does not complete the closing handshake is not waited for.
      setTimeout(() => ws.terminate(), 2000).unref();
    }
  }

  /** Pings on `ws`; a ping left without any answer makes the connection stale (liveness.ts). */
  #livenessOf(ws: WebSocket): Liveness {
    const liveness = new Liveness({
      pingMs: this.#heartbeatMs,
      pongTimeoutMs: this.#pongTimeoutMs,
      ping: () => {
        ws.ping();
        // While connected the cache is current: persist that now and then, so that after a crash
        // the offline age counts from the last moment we were known to be in sync.
        if (this.#phase === 'ready' && performance.now() - this.#lastTouch > 60_000) {
          this.#lastTouch = performance.now();
          void this.opts.cache.touchSync(this.opts.now()).catch(() => undefined);
        }
      },
      onStale: (silentMs) => {
        if (ws !== this.#ws) return;
        this.#staleSince = this.opts.now() - silentMs;
        this.#log.warn(
          { silentMs: Math.round(silentMs), pongTimeoutMs: this.#pongTimeoutMs },
          'server silent (no answer to a ping): connection is dead, reconnecting',
        );
        ws.terminate();
      },
    });
    return liveness;
  }

  #uploadFailed(e: SyncError): void {
    const retryInMs = this.#upload.failed(e.code, e.message);
    const attempts = this.#upload.error?.attempts;
    this.#log.warn(
      { errorCode: e.code, reason: e.message, attempts, retryInMs },
      'the server did not store the uploaded events; uploading again later',
    );
  }

  #closed(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    const wasReady = this.#phase === 'ready';
    const uploading = this.#sent;
    this.#phase = 'idle';
    this.#inFlight = false;
    this.#sent = false;
    this.#liveness?.stop();
    this.#liveness = null;
    if (wasReady) {
      this.#chain = this.#chain
        .then(() => this.opts.cache.touchSync(this.opts.now()))
        .catch(() => undefined);
    }
    if (this.#revoked) return; // told by a `revoked` message, the outbox delivered (or not)
    if (code === CLOSE.REVOKED) {
      this.#revoked = true;
      this.#log.error(
        { closeCode: code },
        'the server revoked this device: no more syncing, and every login that needs a code is refused from now on. Register again (in a fresh data directory) to resume.',
      );
      this.#chain = this.#chain
        .then(() => this.opts.cache.markRevoked())
        .catch((err: unknown) =>
          this.#log.error({ err: (err as Error).message }, 'cannot record the revocation'),
        );
      return;
    }
    if (this.#stopped) return;
    const from = this.server;
    const kind = closeKind(code);
    if (kind === 'moved') {
      this.#moves++;
      this.#moving = true;
    } else if (kind === 'refused') {
      if (!this.#refusedByUs) this.#syncError = refusal(code, reason, from);
      // A server that cannot store a batch closes the connection (any sync protocol; upload.ts).
      if (uploading && !this.#refusedByUs) this.#uploadFailed(uploadRefusal(code, reason, from));
    } else if (!this.#moving) {
      if (wasReady) this.#outages++;
      this.#syncError = {
        code: 'SERVER_UNREACHABLE',
        message: wasReady
          ? `lost the connection to ${from}`
          : `cannot reach ${from}: ${this.#netError ?? `closed with ${code}`}`,
      };
    }
    const delay = this.#reconnect.schedule(kind, () => this.#connect());
    const fields = { closeCode: code, reason, server: from, next: this.server, retryInMs: delay };
    if (kind === 'moved') this.#log.info(fields, 'the server is restarting: reconnecting');
    else if (kind === 'refused') this.#log.warn(fields, 'the server refused the sync connection');
    else if (wasReady) this.#log.warn(fields, 'sync connection lost');
    else this.#log.info({ ...fields, moving: this.#moving }, 'cannot connect to the server');
  }
}
