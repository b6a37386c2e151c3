/**
 * One agent's WebSocket: challenge → hello (Ed25519 proof) → initial snapshot/delta → acks,
 * event batches and pushes. Messages of one connection are handled strictly in order. Any
 * malformed, oversized or out-of-order frame closes this connection only, with a close code that
 * says why.
 */
import { createPublicKey, randomBytes, randomFillSync, randomUUID, verify } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Logger } from '../../protocol/io/log.js';
import {
  CLOSE,
  helloSigningInput,
  parseAgentToServer,
  type AgentToServer,
  type Hello,
  type LoginEvent,
} from '../../protocol/messages.js';
import { IdvError, type ErrorCode } from '../../protocol/errors.js';
import { HELPDESK_SECRET_BYTES } from '../../protocol/helpdesk.js';
import { fieldsForSession, speaks } from '../../protocol/compat.js';
import {
  formatRange,
  LEGACY_OFFER,
  mismatchText,
  negotiate,
  PROTOCOL_HEADER,
  PROTOCOL_QUERY,
  PROTOCOL_VERSION,
  type Offer,
} from '../../protocol/version.js';
import type { ServerContext } from '../context.js';
import type { DeviceActivity, DeviceState } from '../store/store.js';
import { ALL_DEVICES } from '../http/events.js';
import { ACCOUNT_LOCK_REASON, accountItems } from './account.js';
import { recordChain } from './chain.js';
import { ConnectionSigner } from './signer.js';
import { entitledGroups, type GroupMessage } from './view.js';

/** `revoked`: a revoked device's last upload (sync protocol 3): events only, then closed. */
export type ConnectionState = 'challenged' | 'syncing' | 'ready' | 'revoked' | 'closed';

/** How long a revoked device may take to upload its outbox before it is closed with REVOKED. */
const REVOKED_GRACE_MS = 30_000;
const REVOKED_REASON = 'DEVICE_REVOKED: this device has been revoked';

const CLOSE_FOR: Partial<Record<ErrorCode, number>> = {
  TOO_LARGE: CLOSE.TOO_LARGE,
  PROTOCOL_VERSION: CLOSE.PROTOCOL_VERSION,
  OUT_OF_ORDER: CLOSE.OUT_OF_ORDER,
  UNAUTHORIZED: CLOSE.UNAUTHORIZED,
};

export interface ConnectionHooks {
  /** The device proved its key: register this connection (replacing an older one). */
  authenticated(conn: AgentConnection): void;
  /** The initial sync went out: catch up with changes made meanwhile. */
  synced(conn: AgentConnection): void;
  closed(conn: AgentConnection): void;
  /** Last seen / acked revision / facts of a device, written in batches. */
  activity(update: DeviceActivity): void;
  /** The device a hello names, from the store (lookups of hellos arriving together batched). */
  device(id: string): Promise<DeviceState | null>;
  /** The first message for a device that has applied `since`. */
  initialMessage(device: DeviceState, since: number): Promise<GroupMessage>;
}

export class AgentConnection {
  state: ConnectionState = 'challenged';
  alive = true;
  device: DeviceState | null = null;
  /** Revision of the last snapshot/delta sent: the base of the next delta. */
  base = 0;
  private readonly nonce = challengeNonce();
  private chain: Promise<void> = Promise.resolve();
  /** Messages queued on `chain` and not handled yet. */
  private pending = 0;
  /** The last message sent and when, for the push-to-ack latency. */
  private lastSent = { revision: -1, at: 0 };
  /** The last revision the agent acked. */
  acked = 0;
  private helloTimer: NodeJS.Timeout | null = null;
  /** Set when the agent verifies signed policy (its hello carried a nonce). */
  private signer: ConnectionSigner | null = null;
  /** A helpdeskSecret went out on this connection and its helpdeskAck has not come yet. */
  private helpdeskOffered = false;
  /** For the logs only: made at the first log line. */
  private id: string | null = null;
  /** The sync protocol version of this connection (0 when the ranges did not meet). */
  readonly protocol: number;

  constructor(
    readonly ws: WebSocket,
    private readonly ctx: ServerContext,
    private readonly hooks: ConnectionHooks,
    readonly remote: string,
    /** The range the agent said (header or query, protocol/version.ts offeredRange). */
    offer: Offer = LEGACY_OFFER,
  ) {
    ws.on('message', (data, isBinary) => {
      if (this.state === 'closed') return;
      if (isBinary) return this.fail('INVALID_MESSAGE', 'binary frames are not accepted');
      const raw = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      // Acks are most of the traffic (one per agent per change): the exact canonical form takes
      // a fast path when nothing is queued; anything else goes through the full schema.
      const ack = this.pending === 0 ? fastAck(raw) : null;
      if (ack !== null) return this.ack(ack);
      const parsed = parseAgentToServer(raw);
      if (!parsed.ok) return this.fail(parsed.error.code, parsed.error.message);
      this.pending++;
      this.chain = this.chain
        .then(() => this.handle(parsed.value))
        .catch((err: unknown) => {
          this.log.error(
            { err: { name: (err as Error)?.name, message: (err as Error)?.message } },
            'agent message failed',
          );
          // An upload the store refused (a failed transaction, a full disk): the agent keeps
          // the events and backs off before it sends them again (agent/controlclient/upload.ts).
          // Catalogued words only, never the database's own message.
          const code = err instanceof IdvError ? err.code : 'INTERNAL';
          this.close(
            CLOSE.INTERNAL,
            parsed.value.type === 'events'
              ? `${code}: the server could not store the uploaded events`
              : 'internal error',
          );
        })
        .finally(() => this.pending--);
    });
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('close', (code, reason) => {
      const was = this.state;
      this.state = 'closed';
      if (this.helloTimer) clearTimeout(this.helloTimer);
      // The agent's reason says why it left (a version it cannot speak): at most 123 bytes.
      const why = code === CLOSE.PROTOCOL_VERSION ? { reason: reason.toString('utf8') } : {};
      this.info({ closeCode: code, state: was, ...why }, 'agent disconnected');
      this.hooks.closed(this);
    });
    ws.on('error', (err) => {
      // ws reports oversized frames and protocol violations here and closes the socket itself.
      this.log.warn({ err: { message: err.message } }, 'agent socket error');
    });
    this.protocol = (offer.ok ? negotiate(ctx.syncProtocol, offer.range) : null) ?? 0;
    if (this.protocol === 0) {
      const message = offer.ok
        ? mismatchText(
            { name: 'idv-server', range: ctx.syncProtocol },
            { name: 'the agent', range: offer.range },
          )
        : offer.message;
      this.log.warn(
        {
          agentProtocol: offer.ok ? formatRange(offer.range) : offer.raw,
          serverProtocol: formatRange(this.ctx.syncProtocol),
        },
        `refusing agent: ${message}`,
      );
      this.close(CLOSE.PROTOCOL_VERSION, `PROTOCOL_VERSION: ${message}`);
      return;
    }
    this.helloTimer = setTimeout(() => {
      if (this.state === 'challenged') this.close(CLOSE.TIMEOUT, 'no hello in time');
    }, ctx.config.helloTimeoutSeconds * 1000);
    this.send(
      JSON.stringify({
        type: 'challenge',
        v: PROTOCOL_VERSION,
        nonce: this.nonce,
        serverTime: ctx.clock(),
        // Only an agent that said its range knows this key (older ones refuse unknown keys).
        ...(offer.ok && offer.said
          ? { protocol: { min: ctx.syncProtocol.min, max: ctx.syncProtocol.max } }
          : {}),
      }),
    );
  }

  /** Resolves once the messages received so far are handled (a stop waits for it). */
  idle(): Promise<void> {
    return this.chain;
  }

  /** A logger bound to this connection, made when needed (most connections never log). */
  private get log(): Logger {
    return this.ctx.log.child({
      conn: (this.id ??= randomBytes(4).toString('hex')),
      remote: this.remote,
      ...(this.device ? { device: this.device.id } : {}),
    });
  }

  /** At info only when enabled: most servers log at warn, and a child logger per connection costs. */
  private info(obj: object, msg: string): void {
    if (this.ctx.log.isLevelEnabled('info')) this.log.info(obj, msg);
  }

  private send(text: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(text);
  }

  /** Closes with `code`; the reason is cut to the WebSocket limit (123 bytes). */
  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.ctx.metrics.connectionsClosed.inc({ reason: String(code) });
    try {
      this.ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
    } catch {
      this.ws.terminate();
    }
  }

  private fail(code: ErrorCode, message: string): void {
    this.log.warn({ errorCode: code, reason: message }, 'closing agent connection');
    this.close(CLOSE_FOR[code] ?? CLOSE.MALFORMED, `${code}: ${message}`);
  }

  /** Sends a sync message and remembers when, for the push-to-ack latency. */
  push(message: GroupMessage, sentAt = performance.now()): boolean {
    if (this.state === 'closed' || !this.device) return false;
    this.send(
      this.signer
        ? this.signer.wrap(message.payload(this.device.id, this.protocol))
        : message.render(this.device.id, this.protocol),
    );
    this.base = message.revision;
    this.lastSent = { revision: message.revision, at: sentAt };
    return true;
  }

  /** Tells the agent since when this replica is stale, or that it is not (sync protocol 3). */
  tellStaleness(since: number | null): void {
    if (this.state === 'ready' && speaks(this.protocol, 'serverStatus'))
      this.send(JSON.stringify({ type: 'serverStatus', staleSince: since }));
  }

  private ack(revision: number): void {
    if (this.state !== 'ready' || !this.device) return this.fail('OUT_OF_ORDER', 'ack before sync');
    if (revision > this.base)
      return this.fail('OUT_OF_ORDER', `ack of revision ${revision} never sent`);
    if (revision === this.lastSent.revision) {
      this.ctx.metrics.pushAck.observe((performance.now() - this.lastSent.at) / 1000);
      this.lastSent.revision = -1;
    }
    this.acked = revision;
    this.hooks.activity({ id: this.device.id, ackedRevision: revision, seenAt: this.ctx.clock() });
  }

  private async handle(msg: AgentToServer): Promise<void> {
    if (this.state === 'closed') return;
    switch (msg.type) {
      case 'hello':
        if (this.state !== 'challenged')
          return this.fail('OUT_OF_ORDER', 'hello was already received');
        return this.hello(msg);
      case 'ack':
        return this.ack(msg.revision);
      case 'helpdeskAck':
        return this.helpdeskKept();
      case 'events': {
        if ((this.state !== 'ready' && this.state !== 'revoked') || !this.device)
          return this.fail('OUT_OF_ORDER', 'events before hello');
        const device = this.device;
        const revoked = this.state === 'revoked';
        if (revoked)
          this.log.warn(
            { events: msg.events.length },
            'revoked device uploaded what it decided before it knew: stored, flagged afterRevocation',
          );
        // Followers (events --follow, on any replica) and the push of a used recovery code
        // follow from the store's notices of these commits.
        const stored = await this.ctx.store.addEvents(device.id, msg.events, this.ctx.clock(), {
          afterRevocation: revoked,
        });
        for (const e of stored) {
          this.ctx.metrics.events.inc({ outcome: e.outcome });
          // A recovery code works once: remove it everywhere as soon as one device reports it.
          if (e.recoveryCodeId && (await this.mayUseRecoveryCode(device, e)))
            await this.ctx.store.useRecoveryCode(e.user, e.recoveryCodeId, this.ctx.clock());
        }
        // The account rules run over the whole batch, not only the newly stored events: the
        // store counts each event once, also one stored before a crash and sent again.
        // A revoked device is no longer trusted to move anyone's account budget.
        const items = revoked ? [] : await accountItems(this.ctx, device, msg.events);
        const account = await this.ctx.store.applyAccount(device.id, items, this.ctx.clock());
        if (account.locked.length > 0) await this.accountLocked(account.locked);
        // The chain head is stored before the ack: a crash in between means a resend, which
        // the chain check takes as such.
        await recordChain(this.ctx, device.id, msg.events, stored, this.log);
        const ack = {
          type: 'eventsAck',
          ids: msg.events.map((e) => e.id),
          // The agent decides logins on this time (agent/clock/trusted.ts); sync 2 and up.
          serverTime: this.ctx.clock(),
        };
        this.send(JSON.stringify(fieldsForSession(ack, this.protocol)));
        return;
      }
    }
  }

  /** Accounts that just reached their budget: one event each in the feed, next to the cause. */
  private async accountLocked(locked: readonly { user: string; failures: number }[]) {
    const now = this.ctx.clock();
    const events: LoginEvent[] = locked.map(({ user }) => ({
      id: randomUUID(),
      at: now,
      user,
      service: 'idv-server',
      outcome: 'locked',
      reason: ACCOUNT_LOCK_REASON,
    }));
    const stored = await this.ctx.store.addEvents(ALL_DEVICES, events, now);
    for (const e of stored) this.ctx.metrics.events.inc({ outcome: e.outcome });
    for (const l of locked)
      this.log.warn(l, 'account locked on every device: too many failed codes in a row');
  }

  /**
   * An event can only spend a recovery code of a user this device holds (its group's policy
   * entitles the user now) and only with a successful login: a device must not be able to
   * remove other users' codes, whatever ids it has learnt.
   */
  private async mayUseRecoveryCode(device: DeviceState, e: LoginEvent): Promise<boolean> {
    if (e.outcome !== 'ok') return false;
    const user = await this.ctx.store.getUser(e.user);
    if (!user) return false;
    const { policy } = await this.ctx.store.getPolicy(device.deviceGroup);
    if (entitledGroups(policy, user.groups)) return true;
    this.log.warn({ user: user.name }, 'recovery code report for a user this device does not hold');
    return false;
  }

  private async hello(sent: Hello): Promise<void> {
    // Read as the session's version: a newer key (the nonce that asks for signed policy) means
    // nothing on an older session, whose messages carry no signatures.
    const msg = fieldsForSession(sent, this.protocol);
    if (sent.nonce !== undefined && msg.nonce === undefined)
      this.log.warn(
        { protocol: this.protocol },
        `the agent asked for signed policy on a sync protocol ${this.protocol} session (neither its ${PROTOCOL_HEADER} header nor its ${PROTOCOL_QUERY} query arrived: a proxy in between drops them?); serving it unsigned`,
      );
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.state = 'syncing';
    const device = await this.hooks.device(msg.deviceId);
    if (!device || !verifyHello(device.publicKey, this.nonce, msg)) {
      return this.fail('UNAUTHORIZED', 'unknown device or bad signature');
    }
    if (device.revokedAt !== null) {
      this.log.warn({ device: device.id }, 'revoked device tried to connect');
      if (speaks(this.protocol, 'revoked')) return this.lastUpload(device);
      return this.close(CLOSE.REVOKED, REVOKED_REASON);
    }
    this.device = device;
    this.acked = device.ackedRevision;
    if (msg.nonce !== undefined) {
      this.signer = new ConnectionSigner(this.ctx.signing, device.id, this.nonce, msg.nonce);
    }
    this.hooks.activity({
      id: device.id,
      seenAt: this.ctx.clock(),
      agentVersion: msg.agentVersion,
      ...(msg.facts ? { facts: msg.facts } : {}),
    });
    this.hooks.authenticated(this);
    if (this.state !== 'syncing') return;
    const first = await this.hooks.initialMessage(device, msg.revision);
    if (this.state !== 'syncing') return;
    this.info(
      { revision: msg.revision, sent: first.kind, to: first.revision, protocol: this.protocol },
      'agent connected',
    );
    this.state = 'ready';
    const rotations = this.signer?.rotations();
    if (rotations) this.send(rotations);
    if (this.push(first)) this.ctx.metrics.pushes.inc({ kind: first.kind });
    this.hooks.synced(this);
    if (speaks(this.protocol, 'helpdeskSecret')) await this.offerHelpdesk(device);
  }

  /**
   * A device registered before helpdesk codes gets its secret (sync protocol 4, issue 26), on
   * each connection until its agent says it kept it; only then are codes issued for it.
   */
  private async offerHelpdesk(device: DeviceState): Promise<void> {
    const secret = await this.ctx.store.offerHelpdeskSecret(
      device.id,
      randomBytes(HELPDESK_SECRET_BYTES),
    );
    if (!secret || this.state !== 'ready') return;
    this.helpdeskOffered = true;
    this.info({}, 'sending the device its helpdesk secret (registered before helpdesk codes)');
    this.send(JSON.stringify({ type: 'helpdeskSecret', secret: secret.toString('base64url') }));
  }

  private async helpdeskKept(): Promise<void> {
    if (this.state !== 'ready' || !this.device || !this.helpdeskOffered)
      return this.fail('OUT_OF_ORDER', 'helpdeskAck without a helpdeskSecret');
    this.helpdeskOffered = false;
    if (await this.ctx.store.confirmHelpdeskSecret(this.device.id))
      this.info({}, 'the device keeps its helpdesk secret: helpdesk codes can be issued for it');
  }

  /**
   * A revoked device that speaks sync protocol 3 may upload its outbox one last time (logins it
   * decided before it knew: the audit trail must see them, flagged); it is told `revoked` and
   * gets nothing else (no snapshot, no policy, no pushes: it never joins the hub's devices), and
   * is closed with REVOKED after a short grace unless it leaves first.
   */
  private lastUpload(device: DeviceState): void {
    this.device = device;
    this.state = 'revoked';
    this.send(JSON.stringify({ type: 'revoked' }));
    // The hello timer is free again: it bounds this last upload (close() clears it).
    this.helloTimer = setTimeout(() => this.close(CLOSE.REVOKED, REVOKED_REASON), REVOKED_GRACE_MS);
  }
}

function verifyHello(publicKey: string, nonce: string, msg: Hello): boolean {
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: publicKey },
      format: 'jwk',
    });
    return verify(
      null,
      helloSigningInput(nonce, msg.deviceId),
      key,
      Buffer.from(msg.signature, 'base64url'),
    );
  } catch {
    return false;
  }
}

/**
 * 32 fresh random bytes (base64url) for a challenge, cut from a pooled buffer the CSPRNG refills
 * every 128 challenges: one call instead of one per connection in a reconnect storm. Each slice
 * is used once; nonces are public (the agent signs them), so holding the next few is harmless.
 */
const NONCE_POOL = Buffer.alloc(32 * 128);
let noncesUsed = NONCE_POOL.length;
function challengeNonce(): string {
  if (noncesUsed === NONCE_POOL.length) {
    randomFillSync(NONCE_POOL);
    noncesUsed = 0;
  }
  noncesUsed += 32;
  return NONCE_POOL.toString('base64url', noncesUsed - 32, noncesUsed);
}

const ACK_RE = /^\{"type":"ack","revision":(0|[1-9][0-9]{0,14})\}$/;

/** The revision of an ack in its canonical form (what the schema accepts, nothing more), or null. */
function fastAck(raw: Buffer): number | null {
  if (raw.length > 48) return null;
  const m = ACK_RE.exec(raw.toString('latin1'));
  return m ? Number(m[1]) : null;
}
