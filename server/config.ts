/**
 * idv-server configuration: defaults < config file (JSON) < environment < flags, validated with
 * a strict schema (unknown keys refused) and frozen. Errors name the source and the field.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { IdvError } from '../protocol/errors.js';
import { readPrivateFile } from '../protocol/io/files.js';
import { describeIssues } from '../protocol/messages.js';
import { directoryConfigSchema } from './directory/config.js';
import { forwardConfigSchema } from './forward/config.js';
import { mailConfigSchema } from './mail/config.js';

const listenSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, 'must be HOST:PORT')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0-65535');

/** postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?...]; the check never echoes the value. */
export function isDatabaseUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.pathname.length > 1;
  } catch {
    return false;
  }
}

export const configSchema = z.strictObject({
  /** Format version of the config file. */
  version: z.literal(1).optional(),
  dataDir: z.string().min(1),
  /** PostgreSQL (shared by every replica); absent: SQLite in the data dir. */
  database: z
    .string()
    .refine(isDatabaseUrl, 'must be a postgres://USER@HOST:PORT/DATABASE URL')
    .optional(),
  listen: listenSchema,
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  /** Allow plain http/ws on a non-loopback address. */
  insecure: z.boolean(),
  /** The URL users and agents reach this server at (enrollment links); default: the listen URL. */
  publicUrl: z.url().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /** Seconds between WebSocket pings; a connection that misses one pong is dropped. */
  heartbeatSeconds: z.number().min(0.05).max(3600),
  /** Seconds an agent has to answer the challenge with `hello`. */
  helloTimeoutSeconds: z.number().min(0.05).max(600),
  /** Seconds a client has to send a request's headers, and the whole request. */
  headersTimeoutSeconds: z.number().min(0.05).max(600),
  requestTimeoutSeconds: z.number().min(0.05).max(3600),
  /** Connections not authenticated yet (no admin token, no hello), per client address... */
  maxConnectionsPerAddress: z.number().int().min(1).max(1_000_000),
  /** ...and in all (a full pool drops its oldest one). */
  maxPendingConnections: z.number().int().min(1).max(1_000_000),
  /** WebSockets that have not said hello yet, per client address and in all. */
  maxPendingHellosPerAddress: z.number().int().min(1).max(1_000_000),
  maxPendingHellos: z.number().int().min(1).max(1_000_000),
  /** More changes than this since an agent's revision → a snapshot instead of a delta. */
  maxDeltaChanges: z.number().int().min(1).max(1_000_000),
  /** Change-log entries kept (revisions older than that get a snapshot). */
  changeLogRetention: z.number().int().min(1).max(10_000_000),
  /** HTTP body limit in bytes. */
  bodyLimit: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024),
  /** Lifetime of an enrollment link, seconds. */
  enrollmentTtlSeconds: z
    .number()
    .int()
    .min(60)
    .max(30 * 86_400),
  /** Issuer shown in authenticator apps. */
  issuer: z.string().min(1).max(64),
  /** Users and groups from LDAP / Active Directory (server/directory/). */
  directory: directoryConfigSchema.optional(),
  /** SMTP for enrollment mail (server/mail/). */
  mail: mailConfigSchema.optional(),
  /** Login events and admin actions to syslog and webhooks (server/forward/). */
  forward: forwardConfigSchema.optional(),
});

export type ServerConfig = Readonly<z.infer<typeof configSchema>>;

export const CONFIG_DEFAULTS = {
  dataDir: '/var/lib/idv',
  listen: '127.0.0.1:8443',
  insecure: false,
  logLevel: 'info',
  heartbeatSeconds: 30,
  helloTimeoutSeconds: 5,
  headersTimeoutSeconds: 10,
  requestTimeoutSeconds: 30,
  maxConnectionsPerAddress: 128,
  maxPendingConnections: 4096,
  maxPendingHellosPerAddress: 32,
  maxPendingHellos: 1024,
  maxDeltaChanges: 1000,
  changeLogRetention: 10_000,
  bodyLimit: 1024 * 1024,
  enrollmentTtlSeconds: 7 * 86_400,
  issuer: 'idv',
} as const;

export interface ConfigSources {
  file?: string;
  env: NodeJS.ProcessEnv;
  flags: Partial<
    Record<'dataDir' | 'database' | 'listen' | 'tlsCert' | 'tlsKey' | 'publicUrl', string>
  > & {
    insecure?: boolean;
  };
}

function fail(source: string, message: string): never {
  throw new IdvError('CONFIG_INVALID', `${source}: ${message}`);
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(path, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    fail(path, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    fail(path, 'must be a JSON object');
  // Check the file alone too, so an unknown key or a wrong type is blamed on the file.
  const partial = configSchema.partial().safeParse(data);
  if (!partial.success) fail(path, describeIssues('config', partial.error));
  return data as Record<string, unknown>;
}

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (env.IDV_DATA_DIR) out.dataDir = env.IDV_DATA_DIR;
  if (env.IDV_DATABASE_URL) out.database = env.IDV_DATABASE_URL;
  if (env.IDV_LISTEN) out.listen = env.IDV_LISTEN;
  if (env.IDV_PUBLIC_URL) out.publicUrl = env.IDV_PUBLIC_URL;
  if (env.IDV_LOG_LEVEL) out.logLevel = env.IDV_LOG_LEVEL;
  return out;
}

/** Builds, validates and freezes the configuration; CONFIG_INVALID names the source and field. */
export function loadConfig(sources: ConfigSources): ServerConfig {
  const file = sources.file ? readConfigFile(sources.file) : {};
  const flags = Object.fromEntries(
    Object.entries(sources.flags).filter(([, v]) => v !== undefined),
  );
  const merged = { ...CONFIG_DEFAULTS, ...file, ...fromEnv(sources.env), ...flags };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success)
    fail(sources.file ?? 'configuration', describeIssues('config', parsed.error));
  const config = parsed.data;
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    fail('configuration', 'tlsCert and tlsKey must be given together');
  }
  if (config.headersTimeoutSeconds > config.requestTimeoutSeconds)
    fail('configuration', 'headersTimeoutSeconds must not be more than requestTimeoutSeconds');
  if (config.maxConnectionsPerAddress > config.maxPendingConnections)
    fail('configuration', 'maxConnectionsPerAddress must not be more than maxPendingConnections');
  if (config.maxPendingHellosPerAddress > config.maxPendingHellos)
    fail('configuration', 'maxPendingHellosPerAddress must not be more than maxPendingHellos');
  const { host } = splitListen(config.listen);
  if (!config.tlsCert && !config.insecure && !isLoopback(host)) {
    fail(
      'configuration',
      `refusing plain http on ${host}, which is not a loopback address: give --tls-cert and --tls-key, or --insecure if a proxy terminates TLS`,
    );
  }
  return Object.freeze(config);
}

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

/** A secret file (0600): its text without the trailing newline; CONFIG_INVALID names the field. */
export function readSecretFile(path: string, field: string): string {
  let text: string;
  try {
    text = readPrivateFile(path).toString('utf8');
  } catch (err) {
    fail(field, (err as Error).message);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') fail(field, `${path} is empty`);
  return secret;
}

/** A certificate file (PEM) named by the config. */
export function readPemFile(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    fail(field, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** --insecure without TLS: plain http allowed off loopback (said at start, /healthz, /metrics). */
export function plainHttpOffLoopback(config: ServerConfig): boolean {
  return config.insecure && !config.tlsCert;
}
