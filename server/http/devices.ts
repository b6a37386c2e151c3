/** Devices (list, show, revoke), registration by agents, and the tokens (device-tokens.ts). */
import { createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import { HELPDESK_SECRET_BYTES } from '../../protocol/helpdesk.js';
import type { FastifyInstance } from 'fastify';
import { IdvError } from '../../protocol/errors.js';
import { registerRequestSchema } from '../../protocol/messages.js';
import type { ServerContext } from '../context.js';
import { hashToken } from '../store/crypto.js';
import type { DeviceChain } from '../store/chain.js';
import type { DeviceState } from '../store/store.js';
import type { Hub } from '../sync/hub.js';
import { registerTokenRoutes } from './device-tokens.js';
import { emptyBody, idParams, iso, parseInput } from './validate.js';

/**
 * Encodings of the Ed25519 points of small order (libsodium's blocklist, sign bit ignored):
 * the identity, points of order 2, 4 and 8, and the non-canonical y = p, p + 1. With such a key
 * a signature can be forged without any private key, so it proves nothing.
 */
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

/** A canonical base64url encoding of 32 bytes that is a usable Ed25519 public key. */
export function usablePublicKey(text: string): boolean {
  const raw = Buffer.from(text, 'base64url');
  if (raw.length !== 32 || raw.toString('base64url') !== text) return false;
  const unsigned = Buffer.from(raw);
  unsigned[31] = (unsigned[31] as number) & 0x7f;
  if (SMALL_ORDER.includes(unsigned.toString('hex'))) return false;
  try {
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: text }, format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}

export function deviceView(d: DeviceState, online: boolean, acked: number | null = null) {
  return {
    id: d.id,
    name: d.name,
    deviceGroup: d.deviceGroup,
    facts: d.facts,
    agentVersion: d.agentVersion,
    registeredAt: iso(d.registeredAt),
    lastSeenAt: online ? iso(Date.now()) : iso(d.lastSeenAt),
    revision: acked ?? d.ackedRevision,
    online,
    revoked: d.revokedAt !== null,
    revokedAt: iso(d.revokedAt),
  };
}

/** The device's event log chain as `device show` prints it (server/sync/chain.ts). */
function chainView(c: DeviceChain) {
  return {
    seq: c.seq,
    intact: c.breaks === 0,
    breaks: c.breaks,
    lastBreak: c.lastBreak ? { ...c.lastBreak, at: iso(c.lastBreak.at) } : null,
  };
}

export function registerDeviceRoutes(app: FastifyInstance, ctx: ServerContext, hub: Hub): void {
  registerTokenRoutes(app, ctx);

  app.get('/v1/devices', async () => ({
    devices: (await ctx.store.listDevices()).map((d) =>
      deviceView(d, hub.isOnline(d.id), hub.ackedRevision(d.id)),
    ),
  }));

  app.get('/v1/devices/:id', async (req) => {
    const { id } = parseInput(idParams, req.params, 'path');
    const d = await ctx.store.getDevice(id);
    if (!d) throw new IdvError('DEVICE_NOT_FOUND', `no device ${id}`);
    return {
      ...deviceView(d, hub.isOnline(d.id), hub.ackedRevision(d.id)),
      chain: chainView(await ctx.store.getChain(d.id)),
    };
  });

  app.post('/v1/devices/:id/revoke', async (req) => {
    const { id } = parseInput(idParams, req.params, 'path');
    parseInput(emptyBody, req.body, 'revoke');
    // Its connection (on whichever replica) closes on the store's notice of this commit.
    const d = await ctx.store.revokeDevice(id, ctx.clock());
    ctx.log.info({ device: id }, 'device revoked');
    return deviceView(d, false);
  });

  // No bearer: the registration token in the body is the credential.
  app.post('/v1/register', async (req) => {
    const body = parseInput(registerRequestSchema, req.body, 'register');
    if (!usablePublicKey(body.publicKey))
      throw new IdvError(
        'VALIDATION_FAILED',
        'register: publicKey: not a usable Ed25519 public key (32 bytes, canonical base64url)',
      );
    // Only for an agent that checks helpdesk codes (an older one refuses the answer's key).
    const helpdeskSecret = body.helpdesk ? randomBytes(HELPDESK_SECRET_BYTES) : undefined;
    const device = await ctx.store.registerDevice(
      hashToken(body.token),
      {
        id: randomUUID(),
        name: body.name ?? body.facts.hostname,
        publicKey: body.publicKey,
        facts: body.facts,
        agentVersion: body.agentVersion,
        ...(helpdeskSecret ? { helpdeskSecret } : {}),
      },
      ctx.clock(),
    );
    ctx.log.info(
      { device: device.id, deviceGroup: device.deviceGroup, hostname: body.facts.hostname },
      'device registered',
    );
    return {
      deviceId: device.id,
      deviceGroup: device.deviceGroup,
      // Only to an agent that said it pins one: an older agent refuses unknown keys.
      ...(body.signing ? { signingKey: ctx.signing.publicKey } : {}),
      ...(helpdeskSecret ? { helpdeskSecret: helpdeskSecret.toString('base64url') } : {}),
    };
  });
}
