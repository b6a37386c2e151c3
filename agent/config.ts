/**
 * Paths and the registration file (agent.json). Defaults < environment < flags for paths; the
 * file is validated by a strict schema (unknown keys refused) and frozen. Errors name the file and
 * the reason, and tell a missing file (not registered) from an unreadable or invalid one.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { IdvError } from '../protocol/errors.js';
import { describeIssues } from '../protocol/messages.js';
import { nameSchema } from '../protocol/policy.js';
import { isDenied, needsRoot } from './access.js';

export const DEFAULT_DATA_DIR = '/var/lib/idv';
export const DEFAULT_SOCKET = '/run/idv/agent.sock';

export interface AgentPaths {
  dataDir: string;
  socket: string;
  agentFile: string;
  deviceKey: string;
  cacheKey: string;
  cacheDb: string;
}

export function agentPaths(
  flags: { dataDir?: string | undefined; socket?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Readonly<AgentPaths> {
  const dataDir = flags.dataDir ?? env.IDV_DATA_DIR ?? DEFAULT_DATA_DIR;
  const socket = flags.socket ?? env.IDV_SOCKET ?? DEFAULT_SOCKET;
  for (const [what, p] of [
    ['data directory', dataDir],
    ['socket', socket],
  ] as const) {
    if (!isAbsolute(p) && !p.startsWith('.')) {
      throw new IdvError('USAGE', `the ${what} path must be absolute or start with ./ (got ${p})`);
    }
  }
  return Object.freeze({
    dataDir,
    socket,
    agentFile: join(dataDir, 'agent.json'),
    deviceKey: join(dataDir, 'device.key'),
    cacheKey: join(dataDir, 'cache.key'),
    cacheDb: join(dataDir, 'cache.db'),
  });
}

const serverUrl = z.url({ protocol: /^https?$/ });

export const agentFileSchema = z
  .strictObject({
    version: z.literal(1),
    /** Base URL of idv-server, http(s), without a trailing path (the first of `servers`). */
    server: serverUrl,
    /** Every server (replicas), in the order tried; absent = `server` alone. */
    servers: z.array(serverUrl).min(1).max(16).optional(),
    deviceId: z.uuid(),
    deviceGroup: nameSchema,
    name: z.string().max(256).optional(),
    /** PEM file of the CA that signed the server's certificate (pinned for HTTP and WebSocket). */
    ca: z.string().min(1).refine(isAbsolute, 'must be an absolute path').optional(),
    /** Plain http off loopback was allowed at registration (--insecure). */
    insecure: z.literal(true).optional(),
    registeredAt: z.iso.datetime(),
    /** The server's policy signing key pinned at registration (Ed25519, raw, base64url). */
    signingKey: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/)
      .optional(),
    /** The agent pings every heartbeatSeconds (default 10). */
    heartbeatSeconds: z.number().int().min(1).max(300).optional(),
    /** A ping left without any answer this long makes the connection stale (default 5). */
    pongTimeoutSeconds: z.number().int().min(1).max(300).optional(),
    /** Reconnect backoff: full jitter over base·2^n, capped. */
    backoffBaseMs: z.number().int().min(10).max(60_000).optional(),
    backoffCapMs: z.number().int().min(100).max(600_000).optional(),
    /** While waiting to reconnect, probe /healthz every ~probeMs (jittered); 0 = never. */
    probeMs: z.union([z.literal(0), z.number().int().min(100).max(600_000)]).optional(),
    /** After a planned restart of its only server, wait up to this long (jittered) to redial. */
    movedJitterMs: z.number().int().min(0).max(600_000).optional(),
  })
  .refine((f) => f.servers === undefined || f.servers[0] === f.server, {
    message: 'servers[0] must be the same URL as server',
    path: ['servers'],
  });
export type AgentFile = z.infer<typeof agentFileSchema>;

/** The servers to try, in order. */
export function serversOf(file: Pick<AgentFile, 'server' | 'servers'>): readonly string[] {
  return file.servers ?? [file.server];
}

export function loadAgentFile(path: string): Readonly<AgentFile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new IdvError(
        'NOT_REGISTERED',
        `${path} does not exist: run "idv-agent register" first`,
      );
    }
    if (isDenied(err)) throw needsRoot(path);
    throw new IdvError('CONFIG_INVALID', `cannot read ${path}: ${code}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new IdvError('CONFIG_INVALID', `${path}: not valid JSON`);
  }
  const parsed = agentFileSchema.safeParse(data);
  if (!parsed.success) {
    throw new IdvError('CONFIG_INVALID', describeIssues(path, parsed.error));
  }
  return Object.freeze(parsed.data);
}
