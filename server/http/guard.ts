/**
 * Caps on what has not authenticated yet, so that a flood of idle or half-sent connections
 * cannot take every descriptor and the memory behind them (docs/server.md, "Connection limits").
 *
 * `PendingPool` holds items per client address and in total: an address at its cap is refused,
 * a full pool makes room by dropping its oldest item (someone who holds a connection open the
 * longest is the likeliest attacker; a real client authenticates or finishes within
 * milliseconds). `ConnectionGuard` applies one to every TCP connection of the listener until a
 * request on it carries a valid admin token or its WebSocket says a valid hello (`trust`), or it
 * closes. /healthz needs no token: it is answered within the caps and never waits behind them.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { ERRORS } from '../../protocol/errors.js';

export type Admitted<T> = { ok: false } | { ok: true; evicted: T | null };

/** Items waiting to authenticate: at most `perAddress` per address and `total` in all. */
export class PendingPool<T> {
  private readonly byAddress = new Map<string, number>();
  /** Insertion order is age: the first entry is the oldest. */
  private readonly items = new Map<T, string>();

  constructor(
    private readonly perAddress: number,
    private readonly total: number,
  ) {}

  /** Refused when `address` is at its cap; else admitted, evicting the oldest item when full. */
  admit(item: T, address: string): Admitted<T> {
    const mine = this.byAddress.get(address) ?? 0;
    if (mine >= this.perAddress) return { ok: false };
    let evicted: T | null = null;
    if (this.items.size >= this.total) {
      const oldest = this.items.keys().next();
      if (!oldest.done) {
        evicted = oldest.value;
        this.release(evicted);
      }
    }
    this.items.set(item, address);
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
    return { ok: true, evicted };
  }

  /** Forgets `item` (authenticated or closed); false when it was not held. */
  release(item: T): boolean {
    const address = this.items.get(item);
    if (address === undefined) return false;
    this.items.delete(item);
    const left = (this.byAddress.get(address) ?? 1) - 1;
    if (left <= 0) this.byAddress.delete(address);
    else this.byAddress.set(address, left);
    return true;
  }

  get size(): number {
    return this.items.size;
  }
}

/** The address a limit counts by: an IPv4-mapped IPv6 address counts as its IPv4 address. */
export function addressKey(address: string | undefined): string {
  if (!address) return '?';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function endpoint(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) {
  return `${s.remoteAddress ?? '?'}|${s.remotePort ?? 0}`;
}

const BUSY_BODY = JSON.stringify({ code: 'OVERLOADED', message: ERRORS.OVERLOADED.message });
const BUSY =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n' +
  `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BUSY_BODY)}\r\n\r\n` +
  BUSY_BODY;

export interface GuardLimits {
  perAddress: number;
  total: number;
}

export class ConnectionGuard {
  private readonly pool: PendingPool<Socket>;
  /** The raw socket of a connection by its remote endpoint (a TLS socket has the same one). */
  private readonly byEndpoint = new Map<string, Socket>();
  refused = 0;
  evicted = 0;

  constructor(
    limits: GuardLimits,
    private readonly tls: boolean,
    private readonly onDrop: (reason: 'refused' | 'evicted') => void = () => undefined,
  ) {
    this.pool = new PendingPool(limits.perAddress, limits.total);
  }

  /** Counts every new TCP connection of `server` until it authenticates or closes. */
  attach(server: HttpServer | HttpsServer): void {
    server.on('connection', (socket: Socket) => {
      const admitted = this.pool.admit(socket, addressKey(socket.remoteAddress));
      if (!admitted.ok) {
        this.refused++;
        this.onDrop('refused');
        return this.drop(socket);
      }
      if (admitted.evicted) {
        this.evicted++;
        this.onDrop('evicted');
        this.drop(admitted.evicted);
      }
      const key = endpoint(socket);
      this.byEndpoint.set(key, socket);
      socket.once('close', () => {
        this.pool.release(socket);
        if (this.byEndpoint.get(key) === socket) this.byEndpoint.delete(key);
      });
    });
  }

  /** The connection under `socket` (raw or TLS) authenticated: it no longer counts. */
  trust(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): void {
    const key = endpoint(socket);
    const raw = this.byEndpoint.get(key);
    if (raw && this.pool.release(raw)) this.byEndpoint.delete(key);
  }

  /** Connections counted now. */
  get pending(): number {
    return this.pool.size;
  }

  /** Plain HTTP gets a 503 it can read; TLS (no handshake yet, maybe) is simply closed. */
  private drop(socket: Socket): void {
    if (this.tls || socket.destroyed) {
      socket.destroy();
      return;
    }
    socket.end(BUSY);
    // A peer that does not read must not keep it open either.
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
