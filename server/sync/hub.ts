/**
 * The agent channel on `/v1/agent`: accepts WebSocket upgrades on the HTTP server, keeps one
 * connection per device (a newer one replaces the older), drops dead peers by ping/pong, closes a
 * revoked device at once and everyone with 1012 (restarting) at shutdown.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE, LIMITS } from '../../protocol/messages.js';
import type { ServerContext } from '../context.js';
import { AgentConnection, type ConnectionHooks } from './connection.js';
import { DeviceLookup } from './lookup.js';
import { Pusher } from './push.js';
import type { Notices } from '../store/notices.js';
import type { DeviceActivity } from '../store/store.js';
import { addressKey, PendingPool } from '../http/guard.js';
import { offeredRange, PROTOCOL_HEADER, type Offer } from '../../protocol/version.js';

/** A WebSocket that has not said a valid hello yet (its connection may still be handshaking). */
interface HelloSlot {
  conn: AgentConnection | null;
  evicted: boolean;
  /** Its TCP connection, trusted once the hello is valid (then the slot is dropped). */
  socket: IncomingMessage['socket'];
}

const OVERLOADED_REASON = 'OVERLOADED: too many connections waiting for hello; retry later';

export const AGENT_PATH = '/v1/agent';

export class Hub {
  private readonly wss = new WebSocketServer({
    noServer: true,
    // Compression costs ~27x memory per connection; sync messages are small.
    perMessageDeflate: false,
    maxPayload: LIMITS.agentToServer,
    clientTracking: false,
  });
  private readonly sockets = new Set<AgentConnection>();
  /** Connections before hello, per address and in all (a full pool drops its oldest). */
  private readonly hellos: PendingPool<HelloSlot>;
  private readonly slots = new Map<AgentConnection, HelloSlot>();
  private readonly byDevice = new Map<string, AgentConnection>();
  /** Devices revoked since start (few): closes the gap between a hello's lookup and its use. */
  private readonly revoked = new Set<string>();
  private readonly heartbeat: NodeJS.Timeout;
  /** Device activity not written yet: one transaction a second instead of one per ack. */
  private activity = new Map<string, DeviceActivity>();
  private readonly flusher: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  readonly pusher: Pusher;
  /** One set of hooks for every connection (nothing per connection is captured in them). */
  private readonly hooks: ConnectionHooks;
  private readonly lookup: DeviceLookup;
  private stopping = false;
  private readonly unstale: () => void;

  constructor(private readonly ctx: ServerContext) {
    this.pusher = new Pusher(ctx, () => this.byDevice.values());
    this.hellos = new PendingPool(
      ctx.config.maxPendingHellosPerAddress,
      ctx.config.maxPendingHellos,
    );
    this.heartbeat = setInterval(() => this.beat(), ctx.config.heartbeatSeconds * 1000);
    this.heartbeat.unref();
    this.flusher = setInterval(() => {
      if (this.activity.size > 0) void this.flush();
    }, 1000);
    this.flusher.unref();
    this.lookup = new DeviceLookup(ctx.store);
    // A replica cut from the database's notifications tells its agents, and again when back.
    this.unstale = ctx.staleness.subscribe((since) => {
      for (const c of this.byDevice.values()) c.tellStaleness(since);
    });
    this.hooks = {
      authenticated: (c) => this.authenticated(c),
      synced: (c) => {
        this.pusher.catchUp(c);
        if (ctx.staleness.since !== null) c.tellStaleness(ctx.staleness.since);
      },
      closed: (c) => this.closed(c),
      activity: (u) => this.noteActivity(u),
      device: (id) => this.lookup.get(id),
      initialMessage: (device, since) => this.pusher.initialMessage(device, since),
    };
  }

  private noteActivity(update: DeviceActivity): void {
    const prev = this.activity.get(update.id);
    this.activity.set(update.id, prev ? { ...prev, ...update } : update);
  }

  /**
   * Writes pending device activity (last seen, acked revision, facts). One write at a time: two
   * at once would conflict on the same rows, and the stop waits for the one in flight (a write
   * that outlived the store would fail on its closed pool).
   */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.activity.size === 0) return;
      const batch = [...this.activity.values()];
      this.activity = new Map();
      await this.ctx.store.recordDeviceActivity(batch).catch((err: unknown) => {
        this.ctx.log.error(
          { err: { name: (err as Error)?.name, message: (err as Error)?.message } },
          'recording device activity failed',
        );
      });
    });
    return this.flushing;
  }

  /** The revision a connected device last acked (fresher than the store), or null. */
  ackedRevision(deviceId: string): number | null {
    return this.byDevice.get(deviceId)?.acked ?? null;
  }

  /** Handles an HTTP upgrade; anything but /v1/agent gets a 404 and is closed. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== AGENT_PATH || this.stopping) {
      socket.end(
        `HTTP/1.1 ${this.stopping ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    const slot: HelloSlot = { conn: null, evicted: false, socket: req.socket };
    const admitted = this.hellos.admit(slot, addressKey(req.socket.remoteAddress));
    if (admitted.ok && admitted.evicted) this.evict(admitted.evicted);
    // A handshake that fails (or a peer that goes) before the connection exists frees its slot.
    // The closures here outlive the upgrade: they capture the slot and the offered range, not `req`.
    socket.once('close', () => {
      if (!slot.conn) this.hellos.release(slot);
    });
    const ok = admitted.ok;
    const offered = offeredRange(req.headers[PROTOCOL_HEADER], req.url);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, slot, ok, offered));
  }

  private accept(ws: WebSocket, slot: HelloSlot, ok: boolean, offered: Offer): void {
    if (!ok || slot.evicted) {
      // Told in the protocol's own terms, so the agent backs off and retries.
      this.ctx.metrics.connectionsClosed.inc({ reason: String(CLOSE.OVERLOADED) });
      ws.close(CLOSE.OVERLOADED, OVERLOADED_REASON);
      setTimeout(() => ws.terminate(), 1000).unref();
      return;
    }
    const conn = new AgentConnection(
      ws,
      this.ctx,
      this.hooks,
      slot.socket.remoteAddress ?? '?',
      offered,
    );
    slot.conn = conn;
    this.slots.set(conn, slot);
    this.sockets.add(conn);
  }

  /** The oldest connection waiting for hello makes room for a new one. */
  private evict(slot: HelloSlot): void {
    slot.evicted = true;
    if (slot.conn) {
      this.slots.delete(slot.conn);
      slot.conn.close(CLOSE.OVERLOADED, OVERLOADED_REASON);
    }
  }

  /** The connection no longer waits for hello (authenticated or closed). */
  private settled(conn: AgentConnection): void {
    const slot = this.slots.get(conn);
    if (!slot) return;
    this.slots.delete(conn);
    this.hellos.release(slot);
  }

  private authenticated(conn: AgentConnection): void {
    const id = conn.device?.id as string;
    const socket = this.slots.get(conn)?.socket;
    this.settled(conn);
    if (socket) this.ctx.connections.trust(socket);
    // Revoked while its hello was being checked: the store said no a moment ago, we say no now.
    if (this.revoked.has(id))
      return conn.close(CLOSE.REVOKED, 'DEVICE_REVOKED: this device has been revoked');
    const previous = this.byDevice.get(id);
    if (previous && previous !== conn)
      previous.close(CLOSE.REPLACED, 'replaced by a newer connection');
    this.byDevice.set(id, conn);
    this.ctx.metrics.agentsConnected.set(this.byDevice.size);
  }

  private closed(conn: AgentConnection): void {
    this.sockets.delete(conn);
    this.settled(conn);
    if (conn.device && this.byDevice.get(conn.device.id) === conn) {
      this.byDevice.delete(conn.device.id);
      this.ctx.metrics.agentsConnected.set(this.byDevice.size);
      this.noteActivity({ id: conn.device.id, seenAt: this.ctx.clock() });
    }
  }

  private beat(): void {
    for (const c of this.sockets) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  /** True when the device has a live, authenticated connection. */
  isOnline(deviceId: string): boolean {
    return this.byDevice.has(deviceId);
  }

  /**
   * Follows the store's notices: a committed revision is pushed, a revoked device is closed,
   * whichever replica made the change; after missed notices everything is checked again.
   */
  follow(notices: Notices): () => void {
    return notices.subscribe((n) => {
      if (n.kind === 'revision') void this.pusher.notify();
      else if (n.kind === 'revoked') this.revoke(n.device);
      else if (n.kind === 'resync') {
        void this.pusher.notify();
        void this.recheckRevoked();
      }
    });
  }

  /**
   * Resolves once the agents have been sent everything committed so far (the change's own
   * notice already started that push): API handlers answer after it.
   */
  changed(): Promise<void> {
    return this.pusher.settled();
  }

  /** Closes connections of devices revoked meanwhile (after notices may have been missed). */
  private async recheckRevoked(): Promise<void> {
    if (this.byDevice.size === 0) return;
    const devices = await this.ctx.store.listDevices().catch((err: unknown) => {
      // Not "no device revoked": the next resync checks again; say why this one could not.
      this.ctx.log.error(
        { err: { name: (err as Error)?.name, message: (err as Error)?.message } },
        'rechecking revoked devices failed',
      );
      return [];
    });
    for (const d of devices) if (d.revokedAt !== null && this.byDevice.has(d.id)) this.revoke(d.id);
  }

  /** Closes the device's connection (revocation). */
  private revoke(deviceId: string): void {
    this.revoked.add(deviceId);
    for (const c of this.sockets) {
      if (c.device?.id === deviceId)
        c.close(CLOSE.REVOKED, 'DEVICE_REVOKED: this device has been revoked');
    }
  }

  get connectedCount(): number {
    return this.byDevice.size;
  }

  /**
   * Tells every agent the server is restarting on purpose (1012: come back now, elsewhere or
   * here shortly; not an outage), waits briefly for the closes and for what the connections
   * were writing, then writes the last activity: nothing of the hub's writes after this.
   */
  async shutdown(graceMs = 2000): Promise<void> {
    this.stopping = true;
    this.unstale();
    clearInterval(this.heartbeat);
    clearInterval(this.flusher);
    const all = [...this.sockets];
    const closed = Promise.all(
      all.map(
        (c) =>
          new Promise<void>((resolve) =>
            c.ws.readyState === c.ws.CLOSED ? resolve() : c.ws.once('close', () => resolve()),
          ),
      ),
    );
    for (const c of all) c.close(CLOSE.RESTARTING, 'RESTARTING: server shutting down; reconnect');
    const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([closed, timer]);
    for (const c of all) c.ws.terminate();
    this.wss.close();
    // Before the store closes: the batches being stored (events), the activity of the closes.
    const settled = Promise.all([closed, this.pusher.settled(), ...all.map((c) => c.idle())]);
    await Promise.race([settled, new Promise((r) => setTimeout(r, graceMs).unref())]);
    await this.flush();
  }
}
