/**
 * Is the server still there? A silent partition (a NAT entry dropped, a firewall that starts
 * dropping, a relay that stops forwarding) closes nothing: without an answer to wait for, the
 * agent would say `connected: yes` until TCP gave up, minutes later.
 *
 * Every `pingMs` the agent pings; any frame from the server counts as life (its pongs, its own
 * pings, messages). When nothing at all arrived within `pongTimeoutMs` of a ping, the connection
 * is stale: `onStale` gets the moment of the last sign of life, and the caller drops the
 * connection and redials. A dead path is so noticed within pingMs + pongTimeoutMs (15 s with the
 * defaults), and one ping per agent per pingMs costs the server a pong from `ws`, no more.
 */
import { performance } from 'node:perf_hooks';

export const DEFAULT_PING_MS = 10_000;
export const DEFAULT_PONG_TIMEOUT_MS = 5_000;

export interface LivenessOptions {
  pingMs: number;
  pongTimeoutMs: number;
  /** Sends a ping (throws when the socket is closing already). */
  ping(): void;
  /** Nothing arrived within pongTimeoutMs of a ping; `silentMs` since the last sign of life. */
  onStale(silentMs: number): void;
}

export class Liveness {
  #lastSeen = performance.now();
  #interval: NodeJS.Timeout | null = null;
  #deadline: NodeJS.Timeout | null = null;

  constructor(private readonly opts: LivenessOptions) {}

  /** A frame arrived. */
  alive(): void {
    this.#lastSeen = performance.now();
  }

  /** Milliseconds since the last frame. */
  get silentMs(): number {
    return performance.now() - this.#lastSeen;
  }

  /** Starts pinging (the connection just opened). */
  start(): void {
    this.stop();
    this.alive();
    this.#interval = setInterval(() => this.#ping(), this.opts.pingMs);
    this.#interval.unref();
  }

  stop(): void {
    if (this.#interval) clearInterval(this.#interval);
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#interval = null;
    this.#deadline = null;
  }

  #ping(): void {
    const sentAt = performance.now();
    try {
      this.opts.ping();
    } catch {
      return; // closing already
    }
    if (this.#deadline) return; // the previous ping's deadline still runs
    this.#deadline = setTimeout(() => {
      // Checked after the poll phase: a pong that arrived while this process was busy (the timer
      // then fires late) is read first and counts.
      setImmediate(() => {
        this.#deadline = null;
        if (this.#lastSeen >= sentAt || this.#interval === null) return;
        this.stop();
        this.opts.onStale(this.silentMs);
      });
    }, this.opts.pongTimeoutMs);
    this.#deadline.unref();
  }
}
