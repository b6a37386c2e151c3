/**
 * A small simulated agent for server tests and the push benchmark: registers over HTTP with a
 * real Ed25519 key, connects to /v1/agent, answers the challenge, applies snapshots and deltas to
 * an in-memory view and acks them. No mocks: it speaks the real protocol to the real server.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import {
  helloSigningInput,
  parseServerToAgent,
  type LoginEvent,
  type ServerToAgent,
  type UserRecord,
} from '../../protocol/messages.js';
import type { Policy } from '../../protocol/policy.js';
import {
  formatRange,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  SYNC_PROTOCOL,
} from '../../protocol/version.js';

export interface Identity {
  deviceId: string;
  deviceGroup: string;
  privateKey: KeyObject;
}

export const FACTS = { hostname: 'sim-host', os: 'linux', osVersion: 'Debian 12', arch: 'x64' };

/** POST JSON with the admin token; throws on a non-2xx answer. */
export async function adminApi<T = Record<string, unknown>>(
  server: { url: string; adminToken: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.adminToken}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export async function createRegistrationToken(
  server: { url: string; adminToken: string },
  opts: { deviceGroup?: string; uses?: number } = {},
): Promise<string> {
  const r = await adminApi<{ token: string }>(server, 'POST', '/v1/device-tokens', opts);
  return r.token;
}

/** Registers a new simulated device; a token is created when none is given. */
export async function registerDevice(
  server: { url: string; adminToken: string },
  opts: { deviceGroup?: string; token?: string; name?: string } = {},
): Promise<Identity> {
  const token =
    opts.token ??
    (await createRegistrationToken(
      server,
      opts.deviceGroup ? { deviceGroup: opts.deviceGroup } : {},
    ));
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x as string;
  const res = await fetch(`${server.url}/v1/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      token,
      publicKey: x,
      agentVersion: 'sim/1',
      facts: FACTS,
      // As a current agent registers: with its helpdesk secret, so the server never offers one
      // on connect (sync protocol 4 does that for devices registered before helpdesk codes).
      helpdesk: true,
      ...(opts.name ? { name: opts.name } : {}),
    }),
  });
  const body = (await res.json()) as { deviceId: string; deviceGroup: string; code?: string };
  if (!res.ok)
    throw Object.assign(new Error(`register: ${res.status} ${JSON.stringify(body)}`), {
      status: res.status,
      body,
    });
  return { deviceId: body.deviceId, deviceGroup: body.deviceGroup, privateKey };
}

export interface SimOptions {
  /** Revision to claim in hello (default: what this agent has applied). */
  revision?: number;
  /** Ack every snapshot/delta (default true). */
  autoAck?: boolean;
  /** Validate every frame with the shared schema (default true; the bench turns it off). */
  validate?: boolean;
  /** Sign with another key (to test a bad signature). */
  signWith?: KeyObject;
  /** Do not send hello at all. */
  noHello?: boolean;
  /** CA certificate for a wss:// server with a private CA. */
  ca?: Buffer;
  /** Send a hello nonce, so the server signs; `signed` frames are unwrapped (not verified). */
  signed?: boolean;
  /** The `idv-protocol` header (sync protocol range); default this build's, null = none (an agent from before ranges). */
  protocol?: string | null;
  /** The upgrade URL's `protocol` query (the range said again); default none. */
  query?: string;
}

type Waiter = { pred: (m: ServerToAgent) => boolean; resolve: (m: ServerToAgent) => void };

export class SimAgent {
  readonly messages: ServerToAgent[] = [];
  readonly users = new Map<string, UserRecord>();
  /** Frames from the server that failed the shared schema (must stay empty). */
  readonly invalidFrames: string[] = [];
  policy: Policy | null = null;
  /**
   * Called after each snapshot/delta is applied and acked, instead of queueing it for next():
   * the benchmark counts with it, doing no more per message than its bare-ws baseline.
   */
  onSync: ((msg: Extract<ServerToAgent, { type: 'snapshot' | 'delta' }>) => void) | null = null;
  revision = 0;
  ws: WebSocket | null = null;
  /** Resolves with the close code and reason of the current connection. */
  closed: Promise<{ code: number; reason: string }> = Promise.resolve({ code: 0, reason: '' });
  private waiters: Waiter[] = [];
  private cursor = 0;

  constructor(
    readonly url: string,
    readonly identity: Identity,
  ) {}

  /** Opens a connection and answers the challenge; resolves once hello is sent. */
  connect(opts: SimOptions = {}): Promise<void> {
    const query = opts.query === undefined ? '' : `?protocol=${encodeURIComponent(opts.query)}`;
    const wsUrl = `${this.url.replace(/^http/, 'ws')}/v1/agent${query}`;
    const ws = new WebSocket(wsUrl, {
      perMessageDeflate: false,
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.protocol === null
        ? {}
        : { headers: { [PROTOCOL_HEADER]: opts.protocol ?? formatRange(SYNC_PROTOCOL) } }),
    });
    this.ws = ws;
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const validate = opts.validate ?? true;
    const autoAck = opts.autoAck ?? true;
    return new Promise((resolve, reject) => {
      ws.on('error', reject);
      void this.closed.then(() => resolve());
      ws.on('message', (data) => {
        const text = data.toString();
        let msg: ServerToAgent;
        if (validate) {
          const parsed = parseServerToAgent(text);
          if (!parsed.ok) {
            this.invalidFrames.push(parsed.error.message);
            return;
          }
          msg = parsed.value;
        } else {
          msg = JSON.parse(text) as ServerToAgent;
        }
        if (msg.type === 'signed') msg = JSON.parse(msg.payload) as ServerToAgent;
        if (msg.type === 'challenge') {
          if (!opts.noHello) {
            const signature = sign(
              null,
              helloSigningInput(msg.nonce, this.identity.deviceId),
              opts.signWith ?? this.identity.privateKey,
            ).toString('base64url');
            ws.send(
              JSON.stringify({
                type: 'hello',
                v: PROTOCOL_VERSION,
                deviceId: this.identity.deviceId,
                signature,
                revision: opts.revision ?? this.revision,
                agentVersion: 'sim/1',
                facts: FACTS,
                ...(opts.signed ? { nonce: randomBytes(32).toString('base64url') } : {}),
              }),
            );
          }
          resolve();
        }
        this.apply(msg);
        if (msg.type === 'snapshot' || msg.type === 'delta') {
          if (autoAck) ws.send(JSON.stringify({ type: 'ack', revision: msg.revision }));
          if (this.onSync) return this.onSync(msg);
        }
        this.messages.push(msg);
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(msg)) return true;
          w.resolve(msg);
          return false;
        });
      });
    });
  }

  private apply(msg: ServerToAgent): void {
    if (msg.type === 'snapshot') {
      this.users.clear();
      for (const u of msg.users) this.users.set(u.name, u);
      this.policy = msg.policy;
      this.revision = msg.revision;
    } else if (msg.type === 'delta') {
      for (const u of msg.upsert) this.users.set(u.name, u);
      for (const n of msg.remove) this.users.delete(n);
      if (msg.policy) this.policy = msg.policy;
      this.revision = msg.revision;
    }
  }

  /** The next message (after the ones already taken) matching `type`, waiting up to timeoutMs. */
  next<T extends ServerToAgent['type']>(
    type?: T,
    timeoutMs = 10_000,
  ): Promise<Extract<ServerToAgent, { type: T }>> {
    while (this.cursor < this.messages.length) {
      const m = this.messages[this.cursor++] as ServerToAgent;
      if (!type || m.type === type)
        return Promise.resolve(m as Extract<ServerToAgent, { type: T }>);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type ?? 'message'} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        pred: (m) => !type || m.type === type,
        resolve: (m) => {
          clearTimeout(timer);
          this.cursor = this.messages.length;
          resolve(m as Extract<ServerToAgent, { type: T }>);
        },
      });
    });
  }

  /** The next snapshot or delta. */
  async nextSync(
    timeoutMs = 10_000,
  ): Promise<Extract<ServerToAgent, { type: 'snapshot' | 'delta' }>> {
    for (;;) {
      const m = await this.next(undefined, timeoutMs);
      if (m.type === 'snapshot' || m.type === 'delta') return m;
    }
  }

  /** Messages received so far that nobody has taken with next(). */
  pending(): ServerToAgent[] {
    return this.messages.slice(this.cursor);
  }

  send(obj: unknown): void {
    this.ws?.send(JSON.stringify(obj));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws?.send(data, { binary });
  }

  sendEvents(events: LoginEvent[]): void {
    this.send({ type: 'events', events });
  }

  async close(): Promise<void> {
    if (!this.ws || this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    await this.closed;
  }
}
