/**
 * One-time registration: a fresh Ed25519 key pair (private key 0600 in the data dir), the
 * machine's facts and the admin's registration token go to POST {server}/v1/register; the answer
 * (device id, device group, the server's signing key to pin) is written to agent.json last (the
 * device's helpdesk secret, when the server sends one, goes into the cache first), so a
 * failed registration leaves no half-registered agent behind. With several servers (replicas of
 * one database), registration goes to the first that can be reached; all of them are kept in
 * agent.json, in order.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { IdvError, isErrorCode } from '../../protocol/errors.js';
import { ensurePrivateDir, writePrivateFile } from '../../protocol/io/files.js';
import {
  describeIssues,
  registerResponseSchema,
  type DeviceFacts,
  type RegisterRequest,
} from '../../protocol/messages.js';
import { IDV_VERSION } from '../../protocol/version.js';
import type { AgentFile, AgentPaths } from '../config.js';
import { Cache } from '../store/cache.js';
import { CacheCipher, loadOrCreateCacheKey } from '../store/crypto.js';
import { requestJson, type JsonResponse } from './http.js';

export interface RegisterOptions {
  /** One URL (a server, or a load balancer in front of replicas) or several replicas. */
  servers: readonly string[];
  token: string;
  ca?: string | undefined;
  name?: string | undefined;
  /** Allow plain http to a host that is not loopback (a TLS proxy in front, on purpose). */
  insecure?: boolean;
  paths: AgentPaths;
  facts: () => Promise<DeviceFacts>;
  now: () => number;
}

/** Validates and normalises the server URL (http/https, no query, no trailing slash). */
export function parseServerUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new IdvError(
      'USAGE',
      `--server must be a URL like https://idv.example.com (got ${JSON.stringify(text.slice(0, 100))})`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new IdvError(
      'USAGE',
      `--server must start with https:// or http:// (got ${JSON.stringify(text.slice(0, 100))}): like https://idv.example.com:8443, http:// only for a plain-HTTP server`,
    );
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new IdvError('USAGE', '--server must not carry a query, fragment or credentials');
  }
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

/**
 * Plain http carries the registration token and then every user's TOTP secret: refused off
 * loopback unless the administrator said --insecure (recorded in agent.json as `insecure`).
 */
export function checkTransport(server: URL | string, insecure: boolean | undefined): void {
  const url = new URL(String(server));
  if (url.protocol === 'http:' && !insecure && !isLoopback(url.hostname)) {
    throw new IdvError(
      'USAGE',
      `refusing plain http to ${url.host}, which is not a loopback address: use https:// (with --ca for a private CA), or --insecure if that is really meant`,
    );
  }
}

/** `{server}/v1/<path>` keeping any path prefix of the server URL. */
export function endpoint(server: URL | string, path: string, protocol?: 'ws' | 'http'): URL {
  const u = new URL(String(server));
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/${path}`;
  if (protocol === 'ws') u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u;
}

export async function register(opts: RegisterOptions): Promise<AgentFile> {
  if (opts.servers.length === 0) throw new IdvError('USAGE', '--server is required');
  if (opts.servers.length > 16) throw new IdvError('USAGE', 'at most 16 --server URLs');
  const servers = opts.servers.map((s) => parseServerUrl(s));
  const names = servers.map((s) => s.href.replace(/\/+$/, ''));
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new IdvError('USAGE', `--server ${twice} is given twice`);
  for (const server of servers) checkTransport(server, opts.insecure);
  const { paths } = opts;
  if (existsSync(paths.agentFile)) {
    throw new IdvError(
      'ALREADY_INITIALIZED',
      `this agent is already registered (${paths.agentFile}); remove the data directory ${paths.dataDir} to register again`,
    );
  }
  if (opts.token.length < 16 || opts.token.length > 256) {
    throw new IdvError(
      'TOKEN_INVALID',
      'the registration token is malformed (copy it again from "idvctl device token create")',
    );
  }
  let ca: Buffer | undefined;
  let caPath: string | undefined;
  if (opts.ca !== undefined) {
    caPath = resolve(opts.ca);
    try {
      ca = readFileSync(caPath);
    } catch (err) {
      throw new IdvError(
        'CONFIG_INVALID',
        `cannot read the CA file ${caPath}: ${(err as NodeJS.ErrnoException).code}`,
      );
    }
    if (!ca.toString('utf8').includes('-----BEGIN CERTIFICATE-----')) {
      throw new IdvError('CONFIG_INVALID', `${caPath} is not a PEM certificate`);
    }
  }

  // What this attempt makes is removed again when it fails: a later register starts clean.
  const createdDir = !existsSync(paths.dataDir);
  const made = [
    paths.deviceKey,
    paths.cacheDb,
    `${paths.cacheDb}-wal`,
    `${paths.cacheDb}-shm`,
    paths.cacheKey,
  ].filter((f) => !existsSync(f));
  ensurePrivateDir(paths.dataDir);
  try {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const x = publicKey.export({ format: 'jwk' }).x;
    if (!x) throw new IdvError('INTERNAL', 'cannot export the public key');
    writePrivateFile(paths.deviceKey, privateKey.export({ format: 'pem', type: 'pkcs8' }));

    const request: RegisterRequest = {
      token: opts.token,
      publicKey: x,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      agentVersion: IDV_VERSION,
      facts: await opts.facts(),
      signing: true,
      helpdesk: true,
    };
    let server = servers[0] as URL;
    let res: JsonResponse | undefined;
    for (const [i, candidate] of servers.entries()) {
      server = candidate;
      try {
        res = await requestJson(endpoint(server, 'register'), {
          method: 'POST',
          body: request,
          ca,
        });
        break;
      } catch (err) {
        // Unreachable: the next replica may answer. Anything else is the server's word: stop.
        if (
          !(err instanceof IdvError && err.code === 'SERVER_UNREACHABLE') ||
          i === servers.length - 1
        )
          throw err;
      }
    }
    if (!res) throw new IdvError('SERVER_UNREACHABLE', 'no server answered');
    if (res.status !== 200 && res.status !== 201) {
      const body = res.body as { code?: unknown; message?: unknown } | null;
      // A 404 means the URL does not lead to an idv server (wrong host, port or path prefix).
      if (res.status !== 404 && body && isErrorCode(body.code)) {
        const said = typeof body.message === 'string' ? body.message.slice(0, 300) : undefined;
        // A refused token: say where a new one comes from.
        const message =
          body.code === 'TOKEN_INVALID'
            ? `${(said ?? 'the registration token is unknown, used up or expired').replace(/\.$/, '')}: make a new one with "idvctl device token create" (or on the console's Devices page)`
            : said;
        throw new IdvError(body.code, message);
      }
      throw new IdvError(
        'SERVER_UNREACHABLE',
        `no idv server at ${server.href} (HTTP ${res.status} for ${endpoint(server, 'register').pathname})`,
      );
    }
    const parsed = registerResponseSchema.safeParse(res.body);
    if (!parsed.success) {
      throw new IdvError(
        'SERVER_UNREACHABLE',
        `the server at ${server.href} gave an unexpected answer: ${describeIssues('register', parsed.error)}`,
      );
    }
    if (parsed.data.helpdeskSecret !== undefined)
      await keepHelpdeskSecret(paths, parsed.data.deviceId, parsed.data.helpdeskSecret);
    const file: AgentFile = {
      version: 1,
      server: names[0] as string,
      ...(names.length > 1 ? { servers: names } : {}),
      deviceId: parsed.data.deviceId,
      deviceGroup: parsed.data.deviceGroup,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(caPath !== undefined ? { ca: caPath } : {}),
      ...(opts.insecure ? { insecure: true } : {}),
      registeredAt: new Date(opts.now()).toISOString(),
      ...(parsed.data.signingKey !== undefined ? { signingKey: parsed.data.signingKey } : {}),
    };
    writePrivateFile(paths.agentFile, `${JSON.stringify(file, null, 2)}\n`);
    return file;
  } catch (err) {
    for (const f of made) rmSync(f, { force: true });
    if (createdDir) rmSync(paths.dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** The helpdesk secret (issue 15) into the cache, sealed under the cache key, before agent.json. */
async function keepHelpdeskSecret(
  paths: AgentPaths,
  deviceId: string,
  secret: string,
): Promise<void> {
  const cipher = new CacheCipher(loadOrCreateCacheKey(paths.cacheKey));
  const cache = await Cache.open(paths.cacheDb, cipher);
  try {
    await cache.setHelpdeskKey({ deviceId, secret: Buffer.from(secret, 'base64url') });
  } finally {
    await cache.close();
  }
}
