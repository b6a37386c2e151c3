/**
 * `idv-agent doctor`: a pass/warn/fail list an administrator can act on. Checks file and socket
 * permissions, the registration, the cache (integrity, age), whether the agent answers, the
 * clock offset to the server (from its HTTP Date header: TOTP needs clocks within a step), the
 * outbox, and which PAM services call idv-pam-helper.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { formatDuration } from '../protocol/duration.js';
import { IdvError } from '../protocol/errors.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import type { Command, Io } from '../protocol/cli.js';
import type { StatusReport } from '../protocol/messages.js';
import { stringFlag } from '../protocol/cli.js';
import { accessOf, deniedDetail, isDenied } from './access.js';
import type { AgentPaths } from './config.js';
import { loadAgentFile, type AgentFile } from './config.js';
import { requestJson } from './controlclient/http.js';
import { loadCa, loadDeviceKey, openCache, openClock } from './daemon.js';
import { askSocket } from './localapi/client.js';
import { clockLine, pathsOf } from './commands.js';
import { accountChecks } from './pamconfig/accounts.js';
import { gaps } from './pamconfig/companions.js';

/** What to do when the agent does not answer on its socket. */
const START_AGENT =
  'start it with systemctl start idv-agent (journalctl -u idv-agent says why it stopped)';
export type CheckStatus = 'pass' | 'warn' | 'fail';
export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

const CLOCK_WARN_S = 5;
const CLOCK_FAIL_S = 15;

function modeCheck(
  name: string,
  path: string,
  want: number,
  kind: 'file' | 'dir' | 'socket',
): Check {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    return {
      name,
      status: 'fail',
      detail: isDenied(err) ? deniedDetail(path) : `${path} is missing`,
    };
  }
  const isKind =
    kind === 'dir' ? st.isDirectory() : kind === 'socket' ? st.isSocket() : st.isFile();
  if (!isKind) return { name, status: 'fail', detail: `${path} is not a ${kind}` };
  const mode = st.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    return {
      name,
      status: 'fail',
      detail: `${path} is mode ${mode.toString(8).padStart(4, '0')}; it must be ${want.toString(8).padStart(4, '0')} (chmod ${want.toString(8)} ${path})`,
    };
  }
  if (process.getuid && st.uid !== process.getuid()) {
    return {
      name,
      status: 'fail',
      detail: `${path} is owned by uid ${st.uid}, not by the agent's user (uid ${process.getuid()})`,
    };
  }
  return { name, status: 'pass', detail: `${path} ${mode.toString(8).padStart(4, '0')}` };
}

/** Services in `pamDir` whose file calls idv-pam-helper or pam_idv.so (comments ignored). */
export function pamServices(pamDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(pamDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => {
      try {
        return readFileSync(join(pamDir, n), 'utf8')
          .split('\n')
          .some(
            (l) =>
              !l.trim().startsWith('#') &&
              (l.includes('idv-pam-helper') || /\bpam_idv\.so\b/.test(l)),
          );
      } catch {
        return false;
      }
    })
    .sort();
}

/**
 * The server's clock through /healthz. A server that cannot be reached is the documented offline
 * mode, not a fault: a warning that says how long the cache still carries the logins.
 */
async function clockCheck(
  config: AgentFile,
  offline: string | null,
  trusted: boolean,
): Promise<Check> {
  const name = 'clock offset to the server';
  try {
    const t0 = Date.now();
    const res = await requestJson(new URL(`${config.server.replace(/\/+$/, '')}/healthz`), {
      method: 'GET',
      ca: loadCa(config),
      timeoutMs: 5000,
    });
    const t1 = Date.now();
    if (res.date === null)
      return { name, status: 'warn', detail: 'the server sent no Date header' };
    // The Date header has 1 s resolution: compare with the middle of the round trip.
    const offset = (res.date + 500 - (t0 + t1) / 2) / 1000;
    const abs = Math.abs(offset);
    const detail = `${offset >= 0 ? '+' : ''}${offset.toFixed(1)} s (±1 s; codes need the clocks within one 30 s step)`;
    // The agent decides on the server's time (agent/clock/trusted.ts): a wrong local clock is
    // worth fixing (the next boot starts on it) but does not refuse codes now.
    const bad =
      abs > CLOCK_FAIL_S ? (trusted ? 'warn' : 'fail') : abs > CLOCK_WARN_S ? 'warn' : null;
    return {
      name,
      status: bad ?? 'pass',
      detail: bad && trusted ? `${detail}; the agent checks codes on the server's time` : detail,
    };
  } catch (err) {
    const message = err instanceof IdvError ? err.message : String(err);
    if (err instanceof IdvError && (err.code === 'SERVER_UNREACHABLE' || err.code === 'TIMEOUT'))
      return {
        name,
        status: 'warn',
        detail: `not checked: ${message}; offline mode, logins are decided from the cache${offline ? ` (${offline})` : ''}`,
      };
    return { name, status: 'fail', detail: message };
  }
}

/**
 * The time the running agent decides logins by (status `clock`): the local clock's offset from it,
 * a warning past the TOTP window (policy.window steps of 30 s), and after a reboot without a sync,
 * a warning that the first login needs two consecutive codes.
 */
export function agentClockCheck(clock: NonNullable<StatusReport['clock']>, window: number): Check {
  const name = 'agent clock';
  const limit = Math.max(1, window) * 30;
  const line = clockLine(clock);
  if (clock.source === 'local' || clock.offsetSeconds === null)
    return {
      name,
      status: 'warn',
      detail: `${line}; a code that matches only further off asks for the next code too (docs/agent.md "bad day")`,
    };
  const off = Math.abs(clock.offsetSeconds);
  return {
    name,
    status: off > limit ? 'warn' : 'pass',
    detail:
      off > limit
        ? `${line}: more than the ${limit} s window. Logins work until the next reboot; set the local clock right (timedatectl set-ntp true, or date -s)`
        : line,
  };
}

/** `3d 4h`, `2h 5m`, `12m`, `40s`: a rough figure for ages and time left. */
function roughDuration(totalSeconds: number): string {
  const t = Math.max(0, Math.round(totalSeconds));
  const d = Math.floor(t / 86_400);
  const h = Math.floor((t % 86_400) / 3600);
  const m = Math.floor((t % 3600) / 60);
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  return m > 0 ? `${m}m` : `${t}s`;
}

export async function runDoctor(paths: AgentPaths, pamDir: string): Promise<Check[]> {
  const checks: Check[] = [];
  checks.push(modeCheck('data directory', paths.dataDir, 0o700, 'dir'));
  let config: AgentFile | null = null;
  try {
    config = loadAgentFile(paths.agentFile);
    checks.push({
      name: 'registration',
      status: 'pass',
      detail: `device ${config.deviceId} (group ${config.deviceGroup}) with ${config.server}`,
    });
  } catch (err) {
    checks.push({ name: 'registration', status: 'fail', detail: (err as Error).message });
  }
  checks.push(modeCheck('registration file', paths.agentFile, 0o600, 'file'));
  checks.push(modeCheck('device key', paths.deviceKey, 0o600, 'file'));
  if (accessOf(paths.deviceKey) === 'ok') {
    try {
      loadDeviceKey(paths.deviceKey);
    } catch (err) {
      checks.push({ name: 'device key', status: 'fail', detail: (err as Error).message });
    }
  }
  checks.push(modeCheck('cache key', paths.cacheKey, 0o600, 'file'));
  checks.push(modeCheck('cache database', paths.cacheDb, 0o600, 'file'));
  for (const suffix of ['-wal', '-shm']) {
    if (accessOf(paths.cacheDb + suffix) === 'ok')
      checks.push(modeCheck(`cache database ${suffix}`, paths.cacheDb + suffix, 0o600, 'file'));
  }
  checks.push(modeCheck('socket folder', dirname(paths.socket), 0o700, 'dir'));
  const socket = modeCheck('socket', paths.socket, 0o600, 'socket');
  if (socket.status === 'fail' && socket.detail.endsWith(' is missing'))
    socket.detail += `: the agent is not running; ${START_AGENT}`;
  checks.push(socket);

  let connected: boolean | null = null;
  let clock: StatusReport['clock'] | undefined;
  try {
    const [r] = await askSocket(paths.socket, [{ type: 'status', v: PROTOCOL_VERSION }], 5000);
    if (r?.type !== 'status') throw new Error('unexpected answer');
    connected = r.connected;
    clock = r.clock;
    checks.push({ name: 'agent answers', status: 'pass', detail: `on ${paths.socket}` });
    checks.push({
      name: 'live sync',
      status: r.connected ? 'pass' : 'warn',
      detail: r.connected
        ? `connected, revision ${r.revision}`
        : 'not connected to the server (deciding from the cache)',
    });
    checks.push({
      name: 'outbox',
      status: r.outbox > 1000 ? 'warn' : 'pass',
      detail: `${r.outbox} event(s) waiting for upload`,
    });
  } catch (err) {
    checks.push({
      name: 'agent answers',
      status: 'fail',
      detail: /needs root/.test((err as Error).message)
        ? (err as Error).message
        : `${(err as Error).message}; ${START_AGENT}`,
    });
  }

  let offline: string | null = null;
  const cacheAccess = [paths.cacheDb, paths.cacheKey].map((f) => accessOf(f));
  if (cacheAccess.includes('denied')) {
    checks.push({ name: 'cache integrity', status: 'fail', detail: deniedDetail(paths.cacheDb) });
  } else if (!cacheAccess.includes('missing')) {
    try {
      const cache = await openCache(paths);
      try {
        const integrity = await cache.integrity();
        checks.push({
          name: 'cache integrity',
          status: integrity === 'ok' ? 'pass' : 'fail',
          detail: integrity,
        });
        const s = cache.state;
        if (s.policy === null || s.lastSyncAt === null) {
          checks.push({
            name: 'cache age',
            status: 'fail',
            detail: 'never synchronised with the server',
          });
        } else {
          // On the agent's time (the last sync was stamped with it), not the local wall clock.
          const now = (await openClock(cache)).now();
          const age = connected ? 0 : Math.round((now - s.lastSyncAt) / 1000);
          const max = s.policy.offlineMaxAgeSeconds;
          const limit = `offlineMaxAge ${formatDuration(max)}, then failMode ${s.policy.failMode}`;
          offline =
            age > max
              ? `the cache expired ${roughDuration(age - max)} ago: ${limit}`
              : `cache ${roughDuration(age)} old, valid for ${roughDuration(max - age)} more`;
          checks.push({
            name: 'cache age',
            status: age > max ? 'fail' : age > max / 2 ? 'warn' : 'pass',
            detail: connected
              ? `current (connected); ${limit}`
              : `last sync ${new Date(s.lastSyncAt).toISOString()} (${roughDuration(age)} ago); ${age > max ? 'expired' : `valid for ${roughDuration(max - age)} more`} (${limit})`,
          });
        }
        if (clock) checks.push(agentClockCheck(clock, s.policy?.window ?? 1));
        if ((await cache.getMeta('revoked')) === true) {
          checks.push({
            name: 'device',
            status: 'fail',
            detail: 'the server revoked this device: register it again',
          });
        }
      } finally {
        await cache.close();
      }
    } catch (err) {
      checks.push({ name: 'cache integrity', status: 'fail', detail: (err as Error).message });
    }
  }

  if (config)
    checks.push(
      await clockCheck(
        config,
        connected ? null : offline,
        clock !== undefined && clock.source !== 'local',
      ),
    );

  const services = pamServices(pamDir);
  checks.push({
    name: 'PAM services',
    status: services.length ? 'pass' : 'warn',
    detail: services.length
      ? `${services.join(', ')} call idv-pam-helper or pam_idv.so (${pamDir})`
      : `no service in ${pamDir} calls idv-pam-helper or pam_idv.so: logins are not protected (see "idv-agent pam enable")`,
  });
  for (const g of gaps(pamDir))
    checks.push({ name: `PAM gap ${g.service}`, status: g.severity, detail: g.message });
  checks.push(...(await accountChecks(paths, pamDir)));
  return checks;
}

function print(io: Io, checks: Check[], json: boolean): void {
  if (json) {
    io.out(JSON.stringify({ ok: !checks.some((c) => c.status === 'fail'), checks }));
    return;
  }
  for (const c of checks) io.out(`${c.status.toUpperCase().padEnd(4)}  ${c.name}: ${c.detail}`);
}

export const doctorCommand: Record<string, Command> = {
  doctor: {
    summary: 'check permissions, registration, cache, clock and PAM wiring (pass/warn/fail)',
    options: { 'pam-dir': { type: 'string' } },
    async run(p, io) {
      const checks = await runDoctor(pathsOf(p), stringFlag(p.values, 'pam-dir') ?? '/etc/pam.d');
      print(io, checks, Boolean(p.values.json));
      return checks.some((c) => c.status === 'fail') ? 1 : 0;
    },
  },
};
