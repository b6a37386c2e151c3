/**
 * Signing one connection's snapshots and deltas (protocol/signing.ts). The payload's hash and its
 * JSON-quoted form are computed once per message content (GroupMessage caches them); per device
 * only the short signing input is signed.
 */
import { sign } from 'node:crypto';
import { payloadHash, syncSigningInput } from '../../protocol/signing.js';
import type { SigningKey } from '../signingkey.js';

export interface Payload {
  text: string;
  hash: string;
  /** JSON.stringify(text): the payload as it appears inside the `signed` frame. */
  quoted: string;
}

export function payloadOf(text: string): Payload {
  return { text, hash: payloadHash(text), quoted: JSON.stringify(text) };
}

export class ConnectionSigner {
  #seq = 0;

  constructor(
    private readonly key: SigningKey,
    private readonly deviceId: string,
    private readonly serverNonce: string,
    private readonly agentNonce: string,
  ) {}

  /** The `signed` frame for the next message of this connection. */
  wrap(payload: Payload): string {
    const seq = ++this.#seq;
    const sig = sign(
      null,
      syncSigningInput({
        deviceId: this.deviceId,
        serverNonce: this.serverNonce,
        agentNonce: this.agentNonce,
        seq,
        payloadHash: payload.hash,
      }),
      this.key.privateKey,
    ).toString('base64url');
    return `{"type":"signed","key":"${this.key.publicKey}","seq":${seq},"sig":"${sig}","payload":${payload.quoted}}`;
  }

  /** The rotations frame, when the key was ever rotated (agents walk it from the key they pinned). */
  rotations(): string | null {
    if (this.key.rotations.length === 0) return null;
    return JSON.stringify({ type: 'signingKeys', rotations: this.key.rotations });
  }
}
