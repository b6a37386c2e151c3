/**
 * Every message on idv's two channels, as schemas; the TypeScript types are derived from them.
 *
 * - sync channel: idv-server ↔ idv-agent, WebSocket `/v1/agent`, JSON text frames.
 * - local channel: idv-pam-helper / idv-agent CLI ↔ idv-agent, Unix socket, newline-delimited JSON.
 *
 * Every message carries `type`. Objects are strict (extra keys refused). One parse function per
 * direction turns raw bytes into a typed message or a typed refusal; it never throws.
 */
import { z } from 'zod';
import { ERRORS, type ErrorBody, type ErrorCode } from './errors.js';
import { nameSchema, policySchema, serviceSchema } from './policy.js';
import { PROTOCOL_VERSION } from './version.js';

// ---------------------------------------------------------------------------------------------
// Building blocks

/** LIMITS.serverToAgent, needed before LIMITS is declared. */
const LIMITS_SERVER_TO_AGENT = 64 * 1024 * 1024;
const revision = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const epochMs = z.number().int().min(0).max(8.64e15);
const text = (max: number) => z.string().max(max);
const version = z.literal(PROTOCOL_VERSION);
/** base64url without padding */
const b64url = (bytes: number) =>
  z
    .string()
    .length(Math.ceil((bytes * 4) / 3))
    .regex(/^[A-Za-z0-9_-]+$/);

export const totpParamsSchema = z.strictObject({
  /** RFC 4648 base32, upper case, no padding. */
  secret: z
    .string()
    .min(16)
    .max(128)
    .regex(/^[A-Z2-7]+$/),
  algorithm: z.enum(['SHA1', 'SHA256', 'SHA512']),
  digits: z.union([z.literal(6), z.literal(8)]),
  period: z.number().int().min(15).max(120),
});
export type TotpParams = z.infer<typeof totpParamsSchema>;

/**
 * graceStartedAt of a user whose MFA reset ended the enrollment grace (the default: the account
 * may be compromised): no login that needs a code until the new app is set up.
 */
export const GRACE_ENDED = 0;

/** A user as one device sees it: only users entitled to log in there are ever sent. */
export const userRecordSchema = z.strictObject({
  name: nameSchema,
  groups: z.array(nameSchema).max(256),
  status: z.enum(['active', 'suspended']),
  /** null until the user has confirmed an authenticator app. */
  totp: totpParamsSchema.nullable(),
  /**
   * When the enrollment grace period started (user added, or MFA reset with a new grace), epoch
   * ms; GRACE_ENDED after a reset that ended it.
   */
  graceStartedAt: epochMs,
  /** Slow hashes of the unused recovery codes. */
  recoveryCodes: z.array(text(256)).max(20),
  /** Last admin unlock that applies to this device, epoch ms: clears older lockouts. */
  unlockedAt: epochMs.nullable(),
  /**
   * The newest TOTP time step accepted for this user anywhere in the fleet (server's view): the
   * device refuses this step and older ones too. Absent or null: none known.
   */
  lastStep: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  /**
   * Server time the account lock started (accountMaxFailures consecutive failures over all
   * devices), epoch ms; null or absent: not locked. Only an admin unlock lifts it.
   */
  accountLockedAt: epochMs.nullable().optional(),
  /**
   * While the account lock holds: its failures over all devices since the last success (the
   * server pushes each one), which caps helpdesk codes account-wide (helpdeskAccountCap).
   * Absent: not locked, or a server from before the cap.
   */
  accountFailures: z.number().int().min(0).max(1_000_000_000).optional(),
});
export type UserRecord = z.infer<typeof userRecordSchema>;

export const deviceFactsSchema = z.strictObject({
  hostname: text(256),
  os: text(256),
  osVersion: text(256),
  arch: text(64),
  serial: text(256).optional(),
  hardwareUuid: text(256).optional(),
  machineId: text(256).optional(),
});
export type DeviceFacts = z.infer<typeof deviceFactsSchema>;

export const OUTCOMES = [
  'skip',
  'prompt',
  'ok',
  'invalid',
  'locked',
  'deny',
  'unlock',
  'failopen',
  /** Made by the server: the device's event chain showed a gap or a rewrite (protocol/chain.ts). */
  'tamper',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** One login decision (or local unlock) on a device; uploaded at least once, stored once by id. */
export const loginEventSchema = z.strictObject({
  id: z.uuid(),
  at: epochMs,
  user: text(256),
  service: text(64),
  outcome: z.enum(OUTCOMES),
  rhost: text(256).optional(),
  tty: text(256).optional(),
  /** Short machine-readable reason (`replay`, `grace`, `exempt`, `offline-too-long`, ...). */
  reason: text(64).optional(),
  /**
   * With reason `recovery`: which recovery code was used, as recoveryCodeId(hash) from
   * protocol/recovery.ts (the hash's salt, never the code); the server then removes it everywhere.
   */
  recoveryCodeId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{22}$/)
    .optional(),
  /**
   * With outcome `ok` from a TOTP code: the time step accepted. The server keeps the newest per
   * user and pushes it to every device, which then refuses that step (one use per code, fleet-wide).
   */
  step: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Position in the device's event chain, 1 for the first event after registration. */
  chainSeq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  /** eventHash of the device's previous event (protocol/chain.ts GENESIS for the first). */
  prevHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
export type LoginEvent = z.infer<typeof loginEventSchema>;

// ---------------------------------------------------------------------------------------------
// Sync channel

/** First frame on every connection: the agent must sign `nonce` to prove its key. */
export const challengeSchema = z.strictObject({
  type: z.literal('challenge'),
  v: version,
  nonce: b64url(32),
  serverTime: epochMs,
  /**
   * The sync protocol versions the server speaks (protocol/version.ts); sent only to an agent
   * that gave its own range in the upgrade request, since older agents refuse the key.
   */
  protocol: z
    .strictObject({
      min: z.number().int().min(1).max(65_535),
      max: z.number().int().min(1).max(65_535),
    })
    .optional(),
});

export const snapshotSchema = z.strictObject({
  type: z.literal('snapshot'),
  revision,
  serverTime: epochMs,
  deviceGroup: nameSchema,
  policy: policySchema,
  users: z.array(userRecordSchema).max(100_000),
});

export const deltaSchema = z.strictObject({
  type: z.literal('delta'),
  fromRevision: revision,
  revision,
  serverTime: epochMs,
  policy: policySchema.optional(),
  upsert: z.array(userRecordSchema).max(100_000),
  remove: z.array(nameSchema).max(100_000),
});

/**
 * A snapshot or delta signed by the server (protocol/signing.ts): `payload` is its exact JSON
 * text, `sig` the signature of syncSigningInput, `key` the public key that made it. Sent only to
 * agents whose hello carried `nonce`.
 */
export const signedSchema = z.strictObject({
  type: z.literal('signed'),
  key: b64url(32),
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  sig: b64url(64),
  payload: z.string().max(LIMITS_SERVER_TO_AGENT),
});

/** The server's key rotations, oldest first: each `key` signed by the key before it. */
export const signingKeysSchema = z.strictObject({
  type: z.literal('signingKeys'),
  rotations: z.array(z.strictObject({ key: b64url(32), sig: b64url(64) })).max(1000),
});

/** The server stored these events (by id); the agent may drop them from its outbox. */
export const eventsAckSchema = z.strictObject({
  type: z.literal('eventsAck'),
  ids: z.array(z.uuid()).max(1000),
  /** The server's time when it acknowledged (sync protocol 2): keeps the agent's clock current. */
  serverTime: epochMs.optional(),
});

/**
 * Whether this server may be missing changes made through other replicas (sync protocol 3): a
 * replica cut from the database's notifications says since when it has heard nothing, and null
 * once it listens again (its catch-up from the change log follows at once). Sent when that
 * changes, and after the first sync while it lasts. The agent shows it in `status`
 * (`serverStaleSince`); its cache keeps deciding.
 */
export const serverStatusSchema = z.strictObject({
  type: z.literal('serverStatus'),
  staleSince: epochMs.nullable(),
});

/**
 * This device is revoked (sync protocol 3, the answer to its hello): the agent records it as for
 * the REVOKED close, uploads what its outbox holds (logins it decided before it learnt of the
 * revocation, which the audit trail must see: stored flagged `afterRevocation`), then closes.
 * Nothing else is sent to it; the server closes with REVOKED after a short grace in any case.
 */
export const revokedSchema = z.strictObject({ type: z.literal('revoked') });

/**
 * This device's helpdesk secret (sync protocol 4, issue 26), for a device registered before
 * helpdesk codes: sent once it is in sync, on every connection until the agent answers
 * `helpdeskAck`; the server issues codes for the device only after that answer. Sent over the
 * authenticated session only (the hello proved the device key), never logged.
 */
export const helpdeskSecretSchema = z.strictObject({
  type: z.literal('helpdeskSecret'),
  /** 32 random bytes, base64url, as in the registration answer's `helpdeskSecret`. */
  secret: b64url(32),
});

export const serverToAgentSchema = z.discriminatedUnion('type', [
  challengeSchema,
  helpdeskSecretSchema,
  serverStatusSchema,
  revokedSchema,
  snapshotSchema,
  deltaSchema,
  eventsAckSchema,
  signedSchema,
  signingKeysSchema,
]);
export type ServerToAgent = z.infer<typeof serverToAgentSchema>;
export type Snapshot = z.infer<typeof snapshotSchema>;
export type Delta = z.infer<typeof deltaSchema>;
export type Signed = z.infer<typeof signedSchema>;
export type SigningKeys = z.infer<typeof signingKeysSchema>;

/** What a `signed` payload may hold. */
export const signedPayloadSchema = z.discriminatedUnion('type', [snapshotSchema, deltaSchema]);

export const helloSchema = z.strictObject({
  type: z.literal('hello'),
  v: version,
  deviceId: z.uuid(),
  /** Ed25519 signature of helloSigningInput(nonce, deviceId), base64url. */
  signature: b64url(64),
  /** Last revision the agent applied; 0 = nothing yet (a snapshot follows). */
  revision,
  agentVersion: text(64),
  facts: deviceFactsSchema.optional(),
  /**
   * The agent's fresh random nonce (32 bytes, base64url): it verifies signed policy, so the
   * server sends every snapshot and delta as `signed`, bound to this nonce.
   */
  nonce: b64url(32).optional(),
});

export const ackSchema = z.strictObject({ type: z.literal('ack'), revision });

export const MAX_EVENTS_PER_BATCH = 500;
export const eventsSchema = z.strictObject({
  type: z.literal('events'),
  events: z.array(loginEventSchema).min(1).max(MAX_EVENTS_PER_BATCH),
});

/** The agent keeps the `helpdeskSecret` it was sent, sealed in its cache (sync protocol 4). */
export const helpdeskAckSchema = z.strictObject({ type: z.literal('helpdeskAck') });

export const agentToServerSchema = z.discriminatedUnion('type', [
  helloSchema,
  ackSchema,
  eventsSchema,
  helpdeskAckSchema,
]);
export type AgentToServer = z.infer<typeof agentToServerSchema>;
export type Hello = z.infer<typeof helloSchema>;

/** What the agent signs in `hello`: binds the signature to this protocol, nonce and device. */
export function helloSigningInput(nonce: string, deviceId: string): Buffer {
  return Buffer.from(`idv-hello/v${PROTOCOL_VERSION}\n${nonce}\n${deviceId}`, 'utf8');
}

/** WebSocket close codes (4000-4999 are the application's). */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  /**
   * The server is restarting or shutting down on purpose (IANA "Service Restart"): come back at
   * once, to another server of the list, or to the same one after a short jittered delay. Not an
   * outage. Sent by a graceful stop (SIGTERM).
   */
  RESTARTING: 1012,
  MALFORMED: 4400,
  UNAUTHORIZED: 4401,
  REVOKED: 4403,
  PROTOCOL_VERSION: 4406,
  OUT_OF_ORDER: 4409,
  TOO_LARGE: 4413,
  REPLACED: 4410,
  TIMEOUT: 4408,
  INTERNAL: 4500,
  /** Too many connections waiting for hello (from this address, or in all): retry later. */
  OVERLOADED: 4503,
  /** The agent refused a snapshot/delta whose signature did not verify (agent → server). */
  BAD_SIGNATURE: 4419,
} as const;

// ---------------------------------------------------------------------------------------------
// Local channel (Unix socket, one JSON object per line)

/**
 * A one-time code as the helper sends it: 6-8 digits, a recovery code `xxxx-xxxx-xxxx`, or a
 * helpdesk code's 12 digits (protocol/helpdesk.ts; shown with dashes, sent without).
 */
export const CODE_RE = /^([0-9]{6,8}|[0-9]{12}|[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})$/;

export const beginSchema = z.strictObject({
  type: z.literal('begin'),
  v: version,
  user: nameSchema,
  service: serviceSchema,
  rhost: text(256).optional(),
  tty: text(256).optional(),
});

/** The code for the login opened by `begin` on the same connection. */
export const verifySchema = z.strictObject({
  type: z.literal('verify'),
  code: z.string().regex(CODE_RE, 'must be 6-8 digits, a recovery code or a helpdesk code'),
});

export const statusRequestSchema = z.strictObject({ type: z.literal('status'), v: version });
export const unlockRequestSchema = z.strictObject({
  type: z.literal('unlock'),
  v: version,
  user: nameSchema,
});

export const localRequestSchema = z.discriminatedUnion('type', [
  beginSchema,
  verifySchema,
  statusRequestSchema,
  unlockRequestSchema,
]);
export type LocalRequest = z.infer<typeof localRequestSchema>;

const userMessage = text(512);

export const statusReportSchema = z.strictObject({
  type: z.literal('status'),
  server: text(2048).nullable(),
  deviceId: z.uuid().nullable(),
  connected: z.boolean(),
  revision,
  users: z.number().int().min(0),
  lastSyncAt: z.iso.datetime().nullable(),
  locked: z.array(nameSchema),
  outbox: z.number().int().min(0),
  /** The server closed the sync with REVOKED: codes are no longer accepted here. */
  revoked: z.boolean(),
  /** The server's signing key this agent pinned (base64url), null when none is pinned. */
  signingKey: z.string().max(64).nullable().optional(),
  /** Snapshots/deltas refused because their signature did not verify (since registration). */
  refusedUpdates: z.number().int().min(0).optional(),
  /** The last refusal: when and why (the cache kept its last good revision). */
  lastRefusal: z
    .strictObject({ at: z.iso.datetime(), reason: text(512) })
    .nullable()
    .optional(),
  /** Every server of agent.json, in the order tried (`server` is the one in use or tried). */
  servers: z.array(text(2048)).max(64).optional(),
  /** The sync protocol version of the current connection; null when not connected. */
  protocol: z.number().int().min(1).nullable().optional(),
  /** Why the last connection was refused or failed, while it lasts (cleared once in sync). */
  syncError: z
    .strictObject({ code: text(64), message: text(512) })
    .nullable()
    .optional(),
  /**
   * This machine's disk is full (or read-only): logins whose decision could not be written were
   * refused; their count, reported to the server as events once a write succeeds again.
   */
  diskFull: z
    .strictObject({
      since: z.iso.datetime(),
      refusedLogins: z.number().int().min(1),
      cause: text(64),
    })
    .nullable()
    .optional(),
  /**
   * The connection went silent (a ping left without any answer): when the server was last heard
   * from. The agent dropped that connection and redials; null once a connection is in sync again.
   */
  staleSince: z.iso.datetime().nullable().optional(),
  /**
   * The server did not store the last upload (its code and message): uploads back off until one
   * is acknowledged; `retryAt` is when the next may go, `attempts` the failures in a row.
   */
  uploadError: z
    .strictObject({
      code: text(64),
      message: text(512),
      at: z.iso.datetime(),
      retryAt: z.iso.datetime(),
      attempts: z.number().int().min(1),
    })
    .nullable()
    .optional(),
  /**
   * What answers: the running agent's version, commit and Node.js (protocol/version.ts
   * buildInfo); the CLI's own when the agent is not running. Absent from agents before 0.2.0.
   */
  version: text(64).optional(),
  commit: text(64).optional(),
  node: text(64).optional(),
  /** Connections lost without notice since the agent started (a server restart is not one). */
  outages: z.number().int().min(0).optional(),
  /** Times a server asked this agent to move (a graceful restart: close code 1012). */
  moves: z.number().int().min(0).optional(),
  /**
   * The connected server said it may be missing changes made through other replicas (cut from
   * the database's notifications; sync protocol 3): the moment it last heard them, as
   * staleSince says when this agent last heard its server. Null when it did not say so or the
   * agent is not connected.
   */
  serverStaleSince: z.iso.datetime().nullable().optional(),
  /**
   * The time logins are decided by (agent/clock/trusted.ts): the server's (carried on the boot
   * clock), the local wall clock, or the local clock corrected by an offset learned from codes;
   * offsetSeconds is that time minus the local clock (positive: the local clock is behind);
   * syncedAt the server's last reading.
   */
  clock: z
    .strictObject({
      source: z.enum(['server', 'local', 'learned']),
      /** null with source local: the local clock's error is not known. */
      offsetSeconds: z.number().nullable(),
      syncedAt: z.iso.datetime().nullable(),
    })
    .optional(),
  /**
   * The local socket right now, besides the connection asking: open connections (the agent
   * answers "busy" past its cap) and, per user (case-folded), logins waiting at the code prompt.
   */
  localSocket: z
    .strictObject({
      connections: z.number().int().min(0),
      prompts: z.record(z.string().max(256), z.number().int().min(1)),
    })
    .optional(),
});
export type StatusReport = z.infer<typeof statusReportSchema>;

export const localReplySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('skip'), message: userMessage.optional() }),
  z.strictObject({ type: z.literal('deny'), message: userMessage }),
  z.strictObject({
    type: z.literal('prompt'),
    prompts: z.number().int().min(1).max(10),
    message: userMessage.optional(),
  }),
  z.strictObject({ type: z.literal('ok'), message: userMessage.optional() }),
  z.strictObject({
    type: z.literal('invalid'),
    attemptsLeft: z.number().int().min(0).max(100),
    message: userMessage,
  }),
  z.strictObject({ type: z.literal('locked'), until: epochMs.nullable(), message: userMessage }),
  statusReportSchema,
  z.strictObject({
    type: z.literal('unlocked'),
    user: nameSchema,
    wasLocked: z.boolean(),
    /** Failed attempts that counted toward the lockout, now cleared. */
    failures: z.number().int().min(0).max(1_000_000),
    /** The server's account lock still holds (only an admin unlock on the server lifts it). */
    accountLocked: z.boolean().optional(),
  }),
  z.strictObject({
    type: z.literal('error'),
    code: z.string().refine((c) => Object.hasOwn(ERRORS, c)),
    message: userMessage,
  }),
]);
export type LocalReply = z.infer<typeof localReplySchema>;

// ---------------------------------------------------------------------------------------------
// Parsing

/** Size limits, in bytes of UTF-8 input, per direction. */
export const LIMITS = {
  serverToAgent: LIMITS_SERVER_TO_AGENT,
  agentToServer: 1024 * 1024,
  localRequest: 4096,
  localReply: 8192,
} as const;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ErrorBody };

function refuse(code: ErrorCode, message: string): { ok: false; error: ErrorBody } {
  return { ok: false, error: { code, message } };
}

function makeParser<T extends { type: string }>(
  schema: z.ZodType<T>,
  types: ReadonlySet<string>,
  maxBytes: number,
): (
  raw: string | Buffer,
  /** Runs on the JSON object before the schema; a string refuses it (PROTOCOL_VERSION). */
  prepare?: (data: Record<string, unknown>) => string | null,
) => ParseResult<T> {
  return (raw, prepare) => {
    try {
      const size = typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.length;
      if (size > maxBytes)
        return refuse('TOO_LARGE', `message of ${size} bytes exceeds ${maxBytes}`);
      let data: unknown;
      try {
        data = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
      } catch {
        return refuse('MALFORMED_JSON', ERRORS.MALFORMED_JSON.message);
      }
      if (typeof data !== 'object' || data === null || Array.isArray(data)) {
        return refuse('INVALID_MESSAGE', 'a message must be a JSON object');
      }
      const type = (data as Record<string, unknown>).type;
      if (typeof type !== 'string' || !types.has(type)) {
        return refuse('UNKNOWN_TYPE', `unknown message type ${JSON.stringify(type)?.slice(0, 40)}`);
      }
      const v = (data as Record<string, unknown>).v;
      if (v !== undefined && v !== PROTOCOL_VERSION) {
        return refuse(
          'PROTOCOL_VERSION',
          `protocol version ${String(v).slice(0, 20)} is not ${PROTOCOL_VERSION}`,
        );
      }
      const unfit = prepare?.(data as Record<string, unknown>) ?? null;
      if (unfit !== null) return refuse('PROTOCOL_VERSION', unfit);
      const result = schema.safeParse(data);
      if (!result.success) return refuse('INVALID_MESSAGE', describeIssues(type, result.error));
      return { ok: true, value: result.data };
    } catch (err) {
      // Nothing above should throw; if it ever does (a stack overflow on absurd input), refuse.
      return refuse('INVALID_MESSAGE', `unparseable message (${(err as Error).name})`);
    }
  };
}

/** `type: path: problem; path: problem` — never echoes the input's values (they may be secrets). */
export function describeIssues(context: string, error: z.ZodError): string {
  const parts = error.issues.slice(0, 5).map((i) => {
    const path = i.path.length ? i.path.map(String).join('.') : '(message)';
    return `${path}: ${i.message}`;
  });
  return `${context}: ${parts.join('; ')}`;
}

function typesOf(schema: z.ZodDiscriminatedUnion): Set<string> {
  return new Set(
    schema.options.map((o) => String((o as z.ZodObject).shape.type?.def.values?.[0] ?? '')),
  );
}

/** Agent side: the payload of a `signed` frame, after its signature verified. */
export const parseSignedPayload = makeParser(
  signedPayloadSchema,
  typesOf(signedPayloadSchema),
  LIMITS.serverToAgent,
);
/** Agent side: a frame from the server. */
export const parseServerToAgent = makeParser(
  serverToAgentSchema,
  typesOf(serverToAgentSchema),
  LIMITS.serverToAgent,
);
/** Server side: a frame from an agent. */
export const parseAgentToServer = makeParser(
  agentToServerSchema,
  typesOf(agentToServerSchema),
  LIMITS.agentToServer,
);
/** Agent side: one line from a local client (helper or CLI). */
export const parseLocalRequest = makeParser(
  localRequestSchema,
  typesOf(localRequestSchema),
  LIMITS.localRequest,
);
/** Client side: one line from the agent. */
export const parseLocalReply = makeParser(
  localReplySchema,
  typesOf(localReplySchema),
  LIMITS.localReply,
);

// ---------------------------------------------------------------------------------------------
// Registration (HTTP, once per device): POST /v1/register

export const registerRequestSchema = z.strictObject({
  /** The registration token from `idvctl device token create`. */
  token: z.string().min(16).max(256),
  /** The agent's Ed25519 public key: the raw 32 bytes, base64url (JWK `x`). */
  publicKey: b64url(32),
  name: text(256).optional(),
  agentVersion: text(64),
  facts: deviceFactsSchema,
  /** The agent verifies signed policy: answer with the server's signing key to pin. */
  signing: z.literal(true).optional(),
  /** The agent checks helpdesk codes (protocol/helpdesk.ts): answer with the device's secret. */
  helpdesk: z.literal(true).optional(),
});
export type RegisterRequest = z.infer<typeof registerRequestSchema>;

export const registerResponseSchema = z.strictObject({
  deviceId: z.uuid(),
  deviceGroup: nameSchema,
  /** The server's Ed25519 signing key (raw, base64url), when the request said `signing`. */
  signingKey: b64url(32).optional(),
  /**
   * The device's helpdesk secret (32 random bytes, base64url), when the request said `helpdesk`:
   * in this answer only, never sent again.
   */
  helpdeskSecret: b64url(32).optional(),
});
export type RegisterResponse = z.infer<typeof registerResponseSchema>;
