/**
 * Signed policy: what the server signs and the agent verifies, byte for byte.
 *
 * A snapshot or delta travels as `signed` {key, seq, sig, payload}: `payload` is the exact JSON
 * text of the message (parsed only after the signature verified), and `sig` is the server's
 * Ed25519 signature over syncSigningInput(), which binds the payload's SHA-256 to the device, to
 * this connection (the server's challenge nonce and the agent's hello nonce) and to the message's
 * place in it (seq 1, 2, 3, ...). So a signed message cannot be altered, sent to another device,
 * replayed on a later connection, or replayed, dropped or reordered within one.
 *
 * Key rotation: each new key is announced as {key, sig}, sig being the previous key's signature
 * over rotationSigningInput(previous, next); an agent walks the list from the key it pinned.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

/** SHA-256 of the payload's UTF-8 bytes, hex. */
export function payloadHash(payload: string): string {
  return createHash('sha256').update(payload, 'utf8').digest('hex');
}

export interface SyncSignature {
  deviceId: string;
  serverNonce: string;
  agentNonce: string;
  seq: number;
  /** payloadHash(payload) */
  payloadHash: string;
}

export function syncSigningInput(s: SyncSignature): Buffer {
  return Buffer.from(
    `idv-signed/v1\n${s.deviceId}\n${s.serverNonce}\n${s.agentNonce}\n${s.seq}\n${s.payloadHash}`,
    'utf8',
  );
}

export function rotationSigningInput(previousKey: string, nextKey: string): Buffer {
  return Buffer.from(`idv-signing-key/v1\n${previousKey}\n${nextKey}`, 'utf8');
}

/** An Ed25519 public key from its raw 32 bytes, base64url (JWK `x`); throws when malformed. */
export function ed25519PublicKey(x: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

/** The raw public key (base64url) of an Ed25519 key object. */
export function rawPublicKey(key: KeyObject): string {
  const x = createPublicKey(key).export({ format: 'jwk' }).x;
  if (!x) throw new Error('not an Ed25519 key');
  return x;
}

/** True only when `sig` (base64url) is `key`'s valid signature of `input`; never throws. */
export function verifyEd25519(key: string | KeyObject, input: Buffer, sig: string): boolean {
  try {
    const k = typeof key === 'string' ? ed25519PublicKey(key) : key;
    return verify(null, input, k, Buffer.from(sig, 'base64url'));
  } catch {
    return false;
  }
}
