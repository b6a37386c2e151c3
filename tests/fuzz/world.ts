/**
 * The real processes the fuzz targets run against, started once per run and shared by the
 * targets that cannot disturb each other:
 * - `agentWorld`: idv-server + idv-agent on a temp socket, `alice` enrolled, unknown users denied
 *   (socket and helper targets: here every `skip` and every `ok` without alice's code is a bypass);
 * - `serverWorld`: an idv-server with `alice` enrolled and simulated devices registered (WebSocket,
 *   unauthenticated HTTP and portal targets, none of which may change anything);
 * - `adminServer`: an idv-server of its own for the admin API with a token, whose accepted
 *   actions (remove a user, turn MFA off) would spoil the other targets' expectations.
 */
import { Database } from '../../protocol/io/sqlite.js';
import { generateCode } from '../../protocol/totp.js';
import type { TotpParams } from '../../protocol/messages.js';
import { addEnrolledUser, askAgent } from '../helpers/agent.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { registerDevice, type Identity } from '../helpers/sim-agent.js';
import { startWorld, type World } from '../integration/helper-world.js';
import { join } from 'node:path';

/** Was `code` one alice could have typed just now (any step the agent accepts, ±2 to be safe)? */
export function isValidCode(totp: TotpParams, code: string, now = Date.now()): boolean {
  return [-2, -1, 0, 1, 2].some((s) => generateCode(totp, now + s * totp.period * 1000) === code);
}

/**
 * A database as text: every row of every table, minus the columns that move on their own
 * (a device's last contact, a sync time stamp) and the tables that fill on their own.
 */
export async function dumpDatabase(
  file: string,
  skip: { tables?: string[]; columns?: string[]; metaKeys?: string[] } = {},
): Promise<string> {
  const db = await Database.open(file, { readonly: true });
  try {
    const tables = await db.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    );
    const out: Record<string, unknown[]> = {};
    for (const { name } of tables) {
      if (skip.tables?.includes(name)) continue;
      const rows = await db.all<Record<string, unknown>>(`SELECT * FROM "${name}" ORDER BY 1`);
      out[name] = rows
        .filter((r) => !(name === 'meta' && skip.metaKeys?.includes(String(r.key))))
        // A visit to the sign-in page opens an anonymous session (its CSRF token) by design; a
        // session that names a user is still a state change.
        .filter((r) => !(name === 'portal_sessions' && r.user_name === null))
        .map((r) =>
          Object.fromEntries(Object.entries(r).filter(([k]) => !skip.columns?.includes(k))),
        );
    }
    return JSON.stringify(out);
  } finally {
    await db.close();
  }
}

export interface AgentWorld {
  world: World;
  alice: TotpParams;
  /** The agent's cache without the outbox (events leave it for the server on their own). */
  state(): Promise<string>;
  /** The agent still answers `status` on its socket. */
  alive(): Promise<boolean>;
}

export interface ServerWorld {
  server: TestServer;
  alice: TotpParams;
  /** One registered simulated device per WebSocket fuzzed at once (a second hello replaces the first). */
  devices: Identity[];
  state(): Promise<string>;
}

// The audit log records every admin request, refused ones included: it moves by design.
const SERVER_MOVING = { columns: ['last_seen_at', 'acked_revision'], tables: ['audit'] };

let agentWorldP: Promise<AgentWorld> | null = null;
let serverWorldP: Promise<ServerWorld> | null = null;
const stops: (() => Promise<void>)[] = [];

export function agentWorld(): Promise<AgentWorld> {
  agentWorldP ??= (async () => {
    const world = await startWorld({ unknownUsers: 'deny', maxAttempts: 5, selfUnlock: false });
    stops.push(() => world.stop());
    const alice = (await world.enrolled('alice')).totp;
    const cache = join(world.agent.dataDir, 'cache.db');
    return {
      world,
      alice,
      // chainHead follows the outbox (each decision event extends the device's chain); clock is
      // the server's time reading, refreshed by every upload (agent/clock/trusted.ts); revision is
      // the server's, moved by a push the sync applies whenever it arrives (the fleet-wide
      // account state an earlier upload changed, say), never by a local request.
      state: () =>
        dumpDatabase(cache, {
          tables: ['outbox'],
          metaKeys: ['lastSyncAt', 'chainHead', 'clock', 'revision'],
        }),
      alive: () =>
        askAgent(world.agent.socket, [{ type: 'status', v: 1 }]).then(
          ([r]) => r?.type === 'status',
          () => false,
        ),
    };
  })();
  return agentWorldP;
}

export function serverWorld(devices = 8): Promise<ServerWorld> {
  serverWorldP ??= (async () => {
    const server = await startServer({ config: { helloTimeoutSeconds: 5 } });
    stops.push(() => server.stop());
    const { totp } = await addEnrolledUser(server, 'alice');
    const ids: Identity[] = [];
    for (let i = 0; i < devices; i++) ids.push(await registerDevice(server, { name: `fuzz-${i}` }));
    const db = join(server.dataDir, 'idv.db');
    return { server, alice: totp, devices: ids, state: () => dumpDatabase(db, SERVER_MOVING) };
  })();
  return serverWorldP;
}

/** A server of its own (for the admin API fuzz); stopped with the others. */
export async function adminServer(): Promise<{ server: TestServer; state(): Promise<string> }> {
  const server = await startServer();
  stops.push(() => server.stop());
  await addEnrolledUser(server, 'alice');
  const db = join(server.dataDir, 'idv.db');
  return { server, state: () => dumpDatabase(db, SERVER_MOVING) };
}

/** Stops every process the worlds started. */
export async function stopWorlds(): Promise<void> {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  agentWorldP = null;
  serverWorldP = null;
}
