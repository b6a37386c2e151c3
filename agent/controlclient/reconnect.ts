/**
 * Where and when the agent dials next.
 *
 * - Servers are tried in turn (the list from agent.json, or one load balancer's URL): a failed
 *   or lost connection moves on to the next one.
 * - Delays: exponential backoff with full jitter (backoff.ts) over the number of full rounds of
 *   the list that failed, so one dead replica costs one quick retry elsewhere, and a fleet whose
 *   servers are all down spreads out instead of hammering them.
 * - During a long wait after a lost connection, every server is probed (GET /healthz, a cheap
 *   answer that never waits behind the connection caps) at a short jittered interval; as soon as
 *   one answers, the agent dials it. The jitter gives each agent its own phase, so a fleet that
 *   lost its server comes back spread over one probe interval, not in one burst.
 * - A server that answered and refused (version, overload, bad signature) is not probed: it is
 *   up, and probing would only bring the refusal back sooner. Plain backoff then.
 * - A server restarting on purpose (close 1012) sends the agent at once to the next server, or,
 *   with a single one, back to it after a short jittered delay.
 */
import type { Logger } from '../../protocol/io/log.js';
import { CLOSE } from '../../protocol/messages.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { requestJson } from './http.js';

/** Why the previous connection ended. */
export type CloseKind = 'moved' | 'lost' | 'refused';

export interface ReconnectOptions {
  servers: readonly string[];
  backoff: BackoffOptions;
  /** Mean interval between probes while waiting (ms); 0 turns probing off. */
  probeMs: number;
  /** The most a moved agent waits before dialling the same single server again (ms). */
  movedJitterMs: number;
  ca?: Buffer | undefined;
  log: Logger;
  random?: () => number;
}

/**
 * 1012: the server restarts on purpose. The application's codes (4xxx) mean the server answered
 * and said no (or we did). Anything else (1006 abnormal, a dial that failed, 1001 from a server
 * of before 1012) means the server is gone for now.
 */
export function closeKind(code: number): CloseKind {
  if (code === CLOSE.RESTARTING) return 'moved';
  if (code >= 4000 && code <= 4999) return 'refused';
  return 'lost';
}

/** The code and text of a `CODE: message` close reason, else the close code's name. */
function reasonOf(code: number, reason: string): { code: string; text: string } {
  const m = /^([A-Z_]{2,40}): (.+)$/s.exec(reason);
  const name = Object.entries(CLOSE).find(([, c]) => c === code)?.[0] ?? `CLOSE_${code}`;
  return m
    ? { code: m[1] as string, text: m[2] as string }
    : { code: name, text: reason || `close code ${code}` };
}

/** A refusal's code and message, from the server's `CODE: message` reason when it gave one. */
export function refusal(
  code: number,
  reason: string,
  server: string,
): { code: string; message: string } {
  const r = reasonOf(code, reason);
  return { code: r.code, message: `${server} refused the sync: ${r.text}` };
}

/** The same for a connection a server closed while an upload waited for its eventsAck. */
export function uploadRefusal(
  code: number,
  reason: string,
  server: string,
): { code: string; message: string } {
  const r = reasonOf(code, reason);
  return {
    code: r.code,
    message: `${server} did not store the uploaded events and closed the connection (${r.code}: ${r.text})`,
  };
}

export const DEFAULT_PROBE_MS = 5000;
export const DEFAULT_MOVED_JITTER_MS = 2000;

export class Reconnector {
  #index = 0;
  /** Dials since the last sync that did not reach it. */
  #failures = 0;
  #timer: NodeJS.Timeout | null = null;
  #probeTimer: NodeJS.Timeout | null = null;
  /** The dial in progress was started by a probe: if it fails, do not probe again at once. */
  #probed = false;
  #generation = 0;
  readonly #random: () => number;

  constructor(private readonly opts: ReconnectOptions) {
    if (opts.servers.length === 0) throw new Error('no server to connect to');
    this.#random = opts.random ?? Math.random;
  }

  /** The server in use, or the one dialled next. */
  get current(): string {
    return this.opts.servers[this.#index] as string;
  }

  /** The current connection reached sync: the next failure starts from the short delays. */
  synced(): void {
    this.#failures = 0;
    this.#probed = false;
  }

  /**
   * Plans the next dial after a close of `kind`; calls `dial` once (unless cancelled). Returns the
   * planned delay in ms (a probe may cut it short).
   */
  schedule(kind: CloseKind, dial: () => void): number {
    this.cancel();
    const n = this.opts.servers.length;
    const generation = ++this.#generation;
    const go = () => {
      if (generation !== this.#generation) return;
      this.cancel();
      dial();
    };
    let delay: number;
    if (kind === 'moved') {
      this.#index = (this.#index + 1) % n;
      delay = n > 1 ? 0 : Math.floor(this.#random() * this.opts.movedJitterMs);
      this.#probed = false;
    } else {
      const round = Math.floor(this.#failures / n);
      this.#failures++;
      this.#index = (this.#index + 1) % n;
      delay = backoffDelay(round, { ...this.opts.backoff, random: this.#random });
    }
    this.#timer = setTimeout(go, delay);
    const probe = kind !== 'refused' && !this.#probed && this.opts.probeMs > 0;
    if (probe && delay > this.opts.probeMs) this.#probeLoop(generation, go);
    this.#probed = false;
    return delay;
  }

  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#probeTimer) clearTimeout(this.#probeTimer);
    this.#timer = null;
    this.#probeTimer = null;
  }

  #probeLoop(generation: number, go: () => void): void {
    // Uniform in [0.5, 1.5) × probeMs: each agent keeps its own phase.
    const wait = Math.floor(this.opts.probeMs * (0.5 + this.#random()));
    this.#probeTimer = setTimeout(() => {
      void this.#probeAll().then((index) => {
        if (generation !== this.#generation) return;
        if (index === null) return this.#probeLoop(generation, go);
        this.opts.log.info(
          { server: this.opts.servers[index] },
          'server answers again: reconnecting now',
        );
        this.#index = index;
        this.#probed = true;
        go();
      });
    }, wait);
    this.#probeTimer.unref();
  }

  /** The first server (from the one due next) whose /healthz answers 200, or null. */
  async #probeAll(): Promise<number | null> {
    const n = this.opts.servers.length;
    const order = Array.from({ length: n }, (_, i) => (this.#index + i) % n);
    const timeoutMs = Math.max(500, Math.min(this.opts.probeMs, 5000));
    const answers = await Promise.all(
      order.map((i) =>
        requestJson(new URL(`${(this.opts.servers[i] as string).replace(/\/+$/, '')}/healthz`), {
          method: 'GET',
          ca: this.opts.ca,
          timeoutMs,
        }).then(
          (res) => res.status === 200,
          () => false,
        ),
      ),
    );
    const k = answers.indexOf(true);
    return k < 0 ? null : (order[k] as number);
  }
}
