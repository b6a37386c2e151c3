/**
 * Verifying signed policy (protocol/signing.ts) before anything reaches the cache.
 *
 * The agent pins the server's signing key at registration (agent.json `signingKey`); a rotation
 * announced by the pinned key moves the pin (cache meta `signingKey`, durable before the next
 * message is read). With a key pinned, a snapshot or delta is applied only when it arrives as
 * `signed` by that key, for this device, this connection's nonces and the next sequence number;
 * anything else is refused: logged, counted in status, the cache left at its last good revision,
 * and the connection dropped (the client reconnects with backoff and asks again).
 *
 * An agent registered before signing existed has no pin: it pins the key of the first signed
 * message it gets (trust on first use, over the pinned TLS CA where there is one) and accepts
 * unsigned messages until then.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../protocol/io/log.js';
import {
  parseSignedPayload,
  type Delta,
  type Signed,
  type SigningKeys,
  type Snapshot,
} from '../../protocol/messages.js';
import {
  payloadHash,
  rotationSigningInput,
  syncSigningInput,
  verifyEd25519,
} from '../../protocol/signing.js';
import type { Cache } from '../store/cache.js';

export interface Refusal {
  at: number;
  reason: string;
}

/** What status shows: the pinned key and the refusals (read from the cache, agent up or down). */
export async function signatureStatus(
  cache: Cache,
  registeredKey: string | undefined,
): Promise<{ signingKey: string | null; refusedUpdates: number; lastRefusal: Refusal | null }> {
  const pinned = await cache.getMeta('signingKey');
  const refused = await cache.getMeta('refusedUpdates');
  const last = (await cache.getMeta('lastRefusal')) as Refusal | undefined;
  return {
    signingKey: typeof pinned === 'string' ? pinned : (registeredKey ?? null),
    refusedUpdates: typeof refused === 'number' ? refused : 0,
    lastRefusal: last && typeof last.at === 'number' ? last : null,
  };
}

export class PolicyVerifier {
  #pinned: string | null;
  #serverNonce = '';
  #agentNonce = '';
  #seq = 0;

  private constructor(
    private readonly cache: Cache,
    private readonly deviceId: string,
    pinned: string | null,
    private readonly log: Logger,
  ) {
    this.#pinned = pinned;
  }

  static async open(
    cache: Cache,
    deviceId: string,
    registeredKey: string | undefined,
    log: Logger,
  ): Promise<PolicyVerifier> {
    const { signingKey } = await signatureStatus(cache, registeredKey);
    return new PolicyVerifier(cache, deviceId, signingKey, log);
  }

  get pinned(): string | null {
    return this.#pinned;
  }

  /** A new connection was challenged: returns the fresh nonce for this connection's hello. */
  begin(serverNonce: string): string {
    this.#serverNonce = serverNonce;
    this.#agentNonce = randomBytes(32).toString('base64url');
    this.#seq = 0;
    return this.#agentNonce;
  }

  /**
   * The update to apply, or null when it was refused (the refusal is recorded durably first).
   */
  async accept(msg: Snapshot | Delta | Signed, now: number): Promise<Snapshot | Delta | null> {
    const result = await this.#check(msg);
    if (typeof result !== 'string') return result;
    this.log.error(
      { reason: result, pinnedKey: this.#pinned },
      'refused a policy update from the server: its signature does not verify. The cache keeps its last good revision; reconnecting',
    );
    const count = await this.cache.getMeta('refusedUpdates');
    await this.cache.setMeta('refusedUpdates', (typeof count === 'number' ? count : 0) + 1);
    await this.cache.setMeta('lastRefusal', { at: now, reason: result });
    return null;
  }

  async #check(msg: Snapshot | Delta | Signed): Promise<Snapshot | Delta | string> {
    if (msg.type !== 'signed') {
      if (this.#pinned === null) return msg;
      return `an unsigned ${msg.type} (this agent pinned the server's signing key)`;
    }
    const seq = this.#seq + 1;
    if (msg.seq !== seq)
      return `signed message ${msg.seq} where ${seq} was due (dropped, replayed or reordered)`;
    if (this.#pinned !== null && msg.key !== this.#pinned)
      return `signed by key ${msg.key}, not the pinned key`;
    const input = syncSigningInput({
      deviceId: this.deviceId,
      serverNonce: this.#serverNonce,
      agentNonce: this.#agentNonce,
      seq,
      payloadHash: payloadHash(msg.payload),
    });
    if (!verifyEd25519(msg.key, input, msg.sig))
      return 'the signature does not verify (the message was altered, or was not made for this device and connection)';
    const inner = parseSignedPayload(msg.payload);
    if (!inner.ok) return `the signed payload is not a snapshot or delta: ${inner.error.message}`;
    this.#seq = seq;
    if (this.#pinned === null) {
      await this.cache.setMeta('signingKey', msg.key);
      this.#pinned = msg.key;
      this.log.warn(
        { signingKey: msg.key },
        'pinned the server signing key on first use (this agent was registered before signed policy)',
      );
    }
    return inner.value;
  }

  /** Follows the announced rotations from the pinned key; the new pin is durable on return. */
  async rotate(msg: SigningKeys): Promise<void> {
    if (this.#pinned === null) return;
    let key = this.#pinned;
    for (const r of msg.rotations) {
      if (r.key === key) continue;
      if (verifyEd25519(key, rotationSigningInput(key, r.key), r.sig)) key = r.key;
    }
    if (key === this.#pinned) return;
    await this.cache.setMeta('signingKey', key);
    this.log.warn(
      { previous: this.#pinned, signingKey: key },
      'the server rotated its signing key: pinned the new key (announced by the old one)',
    );
    this.#pinned = key;
  }
}
