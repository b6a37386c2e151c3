/**
 * The idv-agent commands: register, run, status, unlock (doctor lives in doctor.ts).
 */
import { IdvError } from '../protocol/errors.js';
import { createLogger } from '../protocol/io/log.js';
import { tokenFrom } from '../protocol/io/token-arg.js';
import { keepRunningWithoutOutput } from '../protocol/io/stdout.js';
import { nameSchema } from '../protocol/policy.js';
import { PROTOCOL_VERSION, buildInfo } from '../protocol/version.js';
import { stringFlag, type Command, type Io, type Parsed } from '../protocol/cli.js';
import { accessOf, needsRoot } from './access.js';
import { agentPaths, loadAgentFile, serversOf, type AgentFile, type AgentPaths } from './config.js';
import { register } from './controlclient/register.js';
import { openCache, openClock, startAgent, statusOf } from './daemon.js';
import { collectFacts } from './facts.js';
import { askSocket } from './localapi/client.js';
import { LoginEngine, unknownUserMessage, type UnlockResult } from './policy/engine.js';
import type { StatusReport } from '../protocol/messages.js';
import { coverage, describeCoverage, type Coverage } from './pamconfig/accounts.js';

export const PATH_OPTIONS = {
  'data-dir': { type: 'string' },
  socket: { type: 'string' },
} as const;

export function pathsOf(p: Parsed) {
  return agentPaths({
    dataDir: stringFlag(p.values, 'data-dir'),
    socket: stringFlag(p.values, 'socket'),
  });
}

function serverFlags(p: Parsed): string[] {
  const v = p.values.server;
  const list = v === undefined ? [] : Array.isArray(v) ? v : [String(v)];
  if (list.length === 0 || list.some((s) => s === ''))
    throw new IdvError('USAGE', '--server is required');
  return list;
}

function registrationToken(p: Parsed, io: Io): string {
  const token = tokenFrom({
    flag: stringFlag(p.values, 'token'),
    file: stringFlag(p.values, 'token-file'),
    warn: (t) => io.err(`idv-agent: ${t}`),
  });
  if (!token) throw new IdvError('USAGE', '--token-file F (or --token T) is required');
  return token;
}

const silentLog = () => createLogger('idv-agent', { level: process.env.IDV_LOG_LEVEL ?? 'warn' });

/**
 * Refuses, before anything is opened or created, when the agent's files exist but this user may
 * not use them; resolves to false when there is no cache at all.
 */
function cacheUsable(paths: AgentPaths, write: boolean): boolean {
  for (const path of [paths.dataDir, paths.cacheDb, paths.cacheKey]) {
    const access = accessOf(path, write);
    if (access === 'denied') throw needsRoot(path);
    if (access === 'missing') return false;
  }
  return true;
}

/** Works without a running agent: reads the cache directly (then `connected` is false). */
async function offlineStatus(p: Parsed): Promise<StatusReport> {
  const paths = pathsOf(p);
  let config: AgentFile | null = null;
  try {
    config = loadAgentFile(paths.agentFile);
  } catch (err) {
    if (!(err instanceof IdvError && err.code === 'NOT_REGISTERED')) throw err;
  }
  if (!cacheUsable(paths, false)) {
    return {
      type: 'status',
      server: config?.server ?? null,
      deviceId: config?.deviceId ?? null,
      connected: false,
      revision: 0,
      users: 0,
      lastSyncAt: null,
      locked: [],
      outbox: 0,
      revoked: false,
      ...buildInfo(),
    };
  }
  const cache = await openCache(paths);
  try {
    const clock = await openClock(cache);
    return await statusOf(
      cache,
      new LoginEngine({ cache, now: clock.now, connected: () => false, log: silentLog() }),
      config,
      null,
      clock,
    );
  } finally {
    await cache.close();
  }
}

/** `codes checked on the server's time; local clock 180.0 s behind (server time seen …)`. */
export function clockLine(c: NonNullable<StatusReport['clock']>): string {
  if (c.source === 'local' || c.offsetSeconds === null)
    return 'codes checked on the local clock (no server time since this boot): offset unknown until the next sync, or until two consecutive codes teach it';
  const off = Math.abs(c.offsetSeconds);
  const local =
    off < 0.05
      ? 'local clock agrees'
      : `local clock ${off.toFixed(1)} s ${c.offsetSeconds > 0 ? 'behind' : 'ahead'}`;
  const source =
    c.source === 'server'
      ? "codes checked on the server's time"
      : 'codes checked on the local clock corrected by an offset learned from two codes';
  return `${source}; ${local}${c.syncedAt ? ` (server time seen ${c.syncedAt})` : ''}`;
}

function printStatus(
  io: Io,
  s: StatusReport,
  down: IdvError | null,
  json: boolean,
  accounts: Coverage | null,
): void {
  const { type: _type, ...fields } = s;
  const running = down === null;
  if (json) {
    // null: the cache could not be read (not synced yet, or not root).
    const unmanagedAccounts = accounts && accounts.unmanaged.map((a) => a.name);
    const report = { ...fields, running, unmanagedAccounts };
    // Not running is a failure (exit 1): the error object, with what the cache says beside it.
    io.out(JSON.stringify(down ? { error: down.toBody(), ...report } : report));
    return;
  }
  io.out(
    [
      `server:     ${s.server ?? '(not registered)'}${serverPosition(s)}`,
      `device:     ${s.deviceId ?? '-'}`,
      `running:    ${running ? 'yes' : 'no'}`,
      ...(s.version
        ? [`version:    ${s.version} (${s.commit ?? 'unknown'}, node ${s.node ?? '?'})`]
        : []),
      `connected:  ${s.connected ? `yes${s.protocol ? ` (sync protocol ${s.protocol})` : ''}` : `no${s.staleSince ? ` (stale since ${s.staleSince}: the server stopped answering pings)` : ''}`}`,
      ...(s.syncError ? [`sync error: ${s.syncError.message}`] : []),
      ...(s.uploadError
        ? [
            `upload:     failing (${s.uploadError.attempts} attempt(s) in a row, last at ${s.uploadError.at}): ${s.uploadError.message}; next try at ${s.uploadError.retryAt}`,
          ]
        : []),
      ...(s.serverStaleSince
        ? [
            `server:     stale since ${s.serverStaleSince} (cut from the database: other replicas' changes are not heard)`,
          ]
        : []),
      ...(s.outages !== undefined
        ? [`reconnects: ${s.outages} lost connection(s), ${s.moves ?? 0} planned server restart(s)`]
        : []),
      `revision:   ${s.revision}`,
      `users:      ${s.users}`,
      `last sync:  ${s.lastSyncAt ?? 'never'}`,
      ...(s.clock ? [`clock:      ${clockLine(s.clock)}`] : []),
      `locked:     ${s.locked.length ? s.locked.join(', ') : 'none'}`,
      `outbox:     ${s.outbox} event(s) waiting for upload`,
      ...(s.diskFull
        ? [
            `disk:       full or read-only since ${s.diskFull.since} (${s.diskFull.cause}): ${s.diskFull.refusedLogins} login(s) refused, not recorded yet (reported to the server once space is back)`,
          ]
        : []),
      ...(s.revoked
        ? ['revoked:    yes: the server revoked this device; logins that need a code are refused']
        : []),
      `signing:    ${s.signingKey ? `server key ${s.signingKey} pinned` : 'no server key pinned'}`,
      ...(s.lastRefusal
        ? [
            `refused:    ${s.refusedUpdates ?? 0} update(s) whose signature did not verify; last at ${s.lastRefusal.at}: ${s.lastRefusal.reason}`,
          ]
        : []),
      ...describeCoverage(accounts).lines,
    ].join('\n'),
  );
  if (down)
    io.err(
      s.server === null
        ? `idv-agent: ${down.message}: this machine is not registered yet; register it first (idv-agent register --server URL --token-file FILE)`
        : `idv-agent: ${down.message}: the figures above are from the cache`,
    );
}

const accountStillLocked = (user: string) =>
  `${user} is still locked on every machine: too many failed codes over all of them; only an administrator can lift that (idvctl user unlock ${user})`;

/** ` (2 of 3: a, b, c)` when the agent has several servers. */
function serverPosition(s: StatusReport): string {
  const list = s.servers ?? [];
  if (list.length < 2 || s.server === null) return '';
  return ` (${list.indexOf(s.server) + 1} of ${list.length}: ${list.join(', ')})`;
}

function unlockText(user: string, wasLocked: boolean, failures: number): string {
  if (wasLocked) return `${user} unlocked`;
  if (failures === 0) return `${user} is not locked`;
  return `${user} is not locked; ${failures} failed ${failures === 1 ? 'attempt' : 'attempts'} cleared`;
}

export const agentCommands: Record<string, Command> = {
  register: {
    summary: 'register this machine with an idv server (once)',
    args: '--server URL [--server URL2 ...] --token-file F',
    options: {
      server: { type: 'string', multiple: true },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      ca: { type: 'string' },
      name: { type: 'string' },
      insecure: { type: 'boolean' },
    },
    flags: {
      server: {
        value: 'URL',
        help: 'the idv-server URL (a load balancer, or repeat it once per replica: tried in turn)',
      },
      'token-file': {
        value: 'F',
        help: 'a file holding the registration token (idvctl device token create)',
      },
      token: { value: 'T', help: 'the registration token itself (visible in ps)' },
      ca: { value: 'FILE', help: 'a private CA certificate (PEM) to trust' },
      name: { value: 'NAME', help: 'the device name (default: the host name)' },
      insecure: { help: 'allow plain http off loopback' },
    },
    async run(p, io) {
      const paths = pathsOf(p);
      const file = await register({
        servers: serverFlags(p),
        token: registrationToken(p, io),
        ca: stringFlag(p.values, 'ca'),
        name: stringFlag(p.values, 'name'),
        insecure: p.values.insecure === true,
        paths,
        facts: () => collectFacts(),
        now: Date.now,
      });
      if (p.values.json)
        io.out(
          JSON.stringify({
            deviceId: file.deviceId,
            deviceGroup: file.deviceGroup,
            server: file.server,
            servers: [...serversOf(file)],
          }),
        );
      else
        io.out(
          `registered as device ${file.deviceId} (group ${file.deviceGroup}) with ${serversOf(file).join(', ')}`,
        );
      return 0;
    },
  },
  run: {
    summary: 'run the agent: live sync and the local socket (as a service)',
    async run(p, io) {
      const paths = pathsOf(p);
      const log = createLogger('idv-agent');
      const agent = await startAgent(paths, log);
      keepRunningWithoutOutput();
      io.out(`idv-agent listening on ${paths.socket}`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'stopping');
          resolve();
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      await agent.stop();
      log.flush();
      return 0;
    },
  },
  status: {
    summary:
      'show the sync state, cached users, locked users and the outbox (exit 1 when the agent is not running)',
    async run(p, io) {
      const paths = pathsOf(p);
      try {
        const [reply] = await askSocket(paths.socket, [{ type: 'status', v: PROTOCOL_VERSION }]);
        if (reply?.type === 'error') throw new IdvError(reply.code as never, reply.message);
        if (reply?.type !== 'status')
          throw new IdvError('INVALID_MESSAGE', 'unexpected answer from the agent');
        printStatus(io, reply, null, Boolean(p.values.json), await coverage(paths));
        return 0;
      } catch (err) {
        if (!(err instanceof IdvError && err.code === 'AGENT_UNAVAILABLE')) throw err;
        const offline = await offlineStatus(p);
        printStatus(io, offline, err, Boolean(p.values.json), await coverage(paths));
        return 1;
      }
    },
  },
  unlock: {
    summary: 'clear a local lockout (break-glass, root only)',
    args: 'USER',
    positionals: 1,
    async run(p, io) {
      const user = p.positionals[0] as string;
      if (!nameSchema.safeParse(user).success)
        throw new IdvError('USAGE', `not a valid user name: ${JSON.stringify(user.slice(0, 70))}`);
      const paths = pathsOf(p);
      let result: UnlockResult;
      try {
        const [reply] = await askSocket(paths.socket, [
          { type: 'unlock', v: PROTOCOL_VERSION, user },
        ]);
        if (reply?.type === 'error') throw new IdvError(reply.code as never, reply.message);
        if (reply?.type !== 'unlocked')
          throw new IdvError('INVALID_MESSAGE', 'unexpected answer from the agent');
        result = {
          known: true,
          wasLocked: reply.wasLocked,
          failures: reply.failures,
          ...(reply.accountLocked ? { accountLocked: true } : {}),
        };
      } catch (err) {
        if (!(err instanceof IdvError && err.code === 'AGENT_UNAVAILABLE')) throw err;
        // The agent is down: unlock in the cache directly (same transaction as the agent's).
        if (!cacheUsable(paths, true))
          throw new IdvError(
            'NOT_REGISTERED',
            `${err.message}, and there is no cache in ${paths.dataDir}: nothing to unlock`,
          );
        const cache = await openCache(paths);
        try {
          result = await new LoginEngine({
            cache,
            now: (await openClock(cache)).now,
            connected: () => false,
            log: silentLog(),
          }).unlock(user);
        } finally {
          await cache.close();
        }
        if (!result.known) throw new IdvError('USER_NOT_FOUND', unknownUserMessage(user));
      }
      const { wasLocked, failures } = result;
      const accountLocked = result.accountLocked === true;
      if (p.values.json)
        io.out(
          JSON.stringify({
            user,
            wasLocked,
            failures,
            ...(accountLocked ? { accountLocked } : {}),
          }),
        );
      else io.out(unlockText(user, wasLocked, failures));
      // This machine's counters are cleared; the account lock is the server's.
      if (accountLocked) io.err(`idv-agent: ${accountStillLocked(user)}`);
      return 0;
    },
  },
};
