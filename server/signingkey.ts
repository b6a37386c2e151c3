/**
 * The server's Ed25519 signing key for policy (protocol/signing.ts), in the data dir as
 * signing.json (0600): {version, key (PKCS#8 PEM), rotations: [{key, sig}]}. `init` creates it; a
 * data dir from before signing gets one at the first `serve` (logged). Rotation replaces the key
 * and appends the announcement, signed by the key it replaces, in one atomic write: there is
 * never a moment where the file holds a key no announcement leads to.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { IdvError } from '../protocol/errors.js';
import { readPrivateFile, writePrivateFile } from '../protocol/io/files.js';
import { describeIssues } from '../protocol/messages.js';
import { rawPublicKey, rotationSigningInput, verifyEd25519 } from '../protocol/signing.js';

export const SIGNING_FILE = 'signing.json';

const fileSchema = z.strictObject({
  version: z.literal(1),
  key: z.string().min(1).max(4096),
  rotations: z
    .array(z.strictObject({ key: z.string().length(43), sig: z.string().length(86) }))
    .max(1000),
});

export interface SigningKey {
  readonly privateKey: KeyObject;
  /** Raw public key, base64url: what agents pin. */
  readonly publicKey: string;
  /** Every rotation so far, oldest first. */
  readonly rotations: readonly { key: string; sig: string }[];
}

function fresh(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

function write(dir: string, key: KeyObject, rotations: SigningKey['rotations']): SigningKey {
  const pem = key.export({ format: 'pem', type: 'pkcs8' }).toString();
  writePrivateFile(
    join(dir, SIGNING_FILE),
    `${JSON.stringify({ version: 1, key: pem, rotations }, null, 2)}\n`,
  );
  return { privateKey: key, publicKey: rawPublicKey(key), rotations };
}

/** Creates signing.json in a new data dir. */
export function createSigningKey(dir: string): SigningKey {
  return write(dir, fresh(), []);
}

export function hasSigningKey(dir: string): boolean {
  return existsSync(join(dir, SIGNING_FILE));
}

/** Reads and checks signing.json (mode 0600, schema, the rotation chain ends at the key). */
export function loadSigningKey(dir: string): SigningKey {
  const path = join(dir, SIGNING_FILE);
  const raw = readPrivateFile(path).toString('utf8');
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    throw new IdvError('CONFIG_INVALID', `${path}: not valid JSON`);
  }
  const parsed = fileSchema.safeParse(data);
  if (!parsed.success) throw new IdvError('CONFIG_INVALID', describeIssues(path, parsed.error));
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(parsed.data.key);
  } catch {
    throw new IdvError('CONFIG_INVALID', `${path}: the key is not a PEM private key`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new IdvError('CONFIG_INVALID', `${path}: the key is not an Ed25519 key`);
  }
  const publicKey = rawPublicKey(privateKey);
  const last = parsed.data.rotations.at(-1);
  if (last && last.key !== publicKey) {
    throw new IdvError('CONFIG_INVALID', `${path}: the last rotation does not announce the key`);
  }
  return { privateKey, publicKey, rotations: parsed.data.rotations };
}

/**
 * Opens the key for `serve`, creating it in a data dir from before signing; `created` says so
 * (the caller logs it: agents registered earlier have no key pinned).
 */
export function openSigningKey(dir: string): { key: SigningKey; created: boolean } {
  if (hasSigningKey(dir)) return { key: loadSigningKey(dir), created: false };
  return { key: createSigningKey(dir), created: true };
}

/**
 * Replaces the key with a new one, announced by the old one. Agents connected to a server that
 * still runs the old key learn the new one when that server restarts with this file.
 */
export function rotateSigningKey(dir: string): { previous: string; next: SigningKey } {
  const current = loadSigningKey(dir);
  const key = fresh();
  const next = rawPublicKey(key);
  const sig = sign(null, rotationSigningInput(current.publicKey, next), current.privateKey);
  const rotation = { key: next, sig: sig.toString('base64url') };
  // A check that costs nothing and catches a broken build before agents would.
  if (
    !verifyEd25519(current.publicKey, rotationSigningInput(current.publicKey, next), rotation.sig)
  )
    throw new IdvError('INTERNAL', 'the rotation signature does not verify');
  return { previous: current.publicKey, next: write(dir, key, [...current.rotations, rotation]) };
}
