/**
 * Test helper: a real PostgreSQL cluster (Debian's `postgresql` package) in a temp folder, one per
 * test file, with a fresh database per test.
 *
 *   const pg = await startPostgres();          // null (+ POSTGRES_MISSING) when not installed
 *   const url = await pg.createDatabase();     // postgres://postgres@127.0.0.1:PORT/idv_xxx
 *   await pg.stop(); await pg.start();         // pg_ctl stop / start under a running server
 *
 * `startPostgres({ netns, listen })` runs it inside a network namespace the test made (root;
 * tests/helpers/netns.ts), listening on those of its addresses; the test's own queries then go
 * through the unix socket, and createDatabase's URL names the first address.
 *
 * PostgreSQL refuses to run as root: under root the cluster belongs to the `postgres` user (or
 * `nobody`) and every pg_ctl runs through setpriv. It listens on 127.0.0.1 on a free port (trust
 * for `postgres`, scram-sha-256 for the password role `idv_pw`) and on a unix socket in the temp
 * folder. Stopped and removed when the file ends, or when the process exits.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { isRoot, missing } from './require.js';

/** Where Debian puts the server binaries (the newest version installed), or null. */
function findBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // not installed
  }
  return null;
}

const BIN = findBinDir();

/** Why PostgreSQL tests cannot run here (null: they can); throws under IDV_REQUIRE_E2E=1. */
export const POSTGRES_MISSING: string | null = BIN
  ? missing({})
  : missing({
      files: [
        {
          path: '/usr/lib/postgresql/15/bin/initdb',
          hint: 'apt-get install postgresql',
        },
      ],
    });

/** The password role's credentials (its password is what the redaction tests look for). */
export const PASSWORD_ROLE = { user: 'idv_pw', password: `pw-${randomBytes(9).toString('hex')}` };

export interface PgCluster {
  port: number;
  /** A new empty database; returns its URL (as the trust superuser, or the password role). */
  createDatabase(options?: { withPassword?: boolean }): Promise<string>;
  /** pg_ctl stop -m fast (sessions are terminated) / pg_ctl start, same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** A query as the superuser on a database of the cluster. */
  query(database: string, sql: string): Promise<pg.QueryResult>;
  remove(): void;
}

function ownerIds(): { uid: number; gid: number } | null {
  if (!isRoot) return null;
  for (const name of ['postgres', 'nobody']) {
    const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (r.status === 0 && g.status === 0)
      return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  }
  throw new Error('running as root, but neither a postgres nor a nobody user exists');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const clusters = new Set<() => void>();
process.once('exit', () => {
  for (const c of [...clusters]) c();
});
if (process.env.VITEST) {
  const { afterAll } = await import('vitest');
  afterAll(() => {
    for (const c of [...clusters]) c();
  });
}

export interface PgOptions {
  /** Run inside this network namespace (`ip netns exec`)... */
  netns?: string;
  /** ...listening on these of its addresses... */
  listen?: string[];
  /** ...and trusting connections from these addresses for every role, as 127.0.0.1 is. */
  clients?: string[];
}

/** Starts a cluster for this test file, or returns null when PostgreSQL is not installed. */
export async function startPostgres(options: PgOptions = {}): Promise<PgCluster | null> {
  if (!BIN) return null;
  const listen = options.listen ?? ['127.0.0.1'];
  const wrap = options.netns ? ['ip', 'netns', 'exec', options.netns] : [];
  const owner = ownerIds();
  const base = mkdtempSync(join(tmpdir(), 'idv-pg-'));
  const data = join(base, 'data');
  const socketDir = join(base, 'sock');
  const log = join(base, 'postgres.log');
  if (owner) chownSync(base, owner.uid, owner.gid);
  chmodSync(base, 0o700);
  const as = (cmd: string, args: string[]): void => {
    const inner = owner
      ? [
          'setpriv',
          `--reuid=${owner.uid}`,
          `--regid=${owner.gid}`,
          '--clear-groups',
          join(BIN, cmd),
          ...args,
        ]
      : [join(BIN, cmd), ...args];
    const argv = [...wrap, ...inner];
    const r = spawnSync(argv[0] as string, argv.slice(1), {
      encoding: 'utf8',
      cwd: base,
      env: { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C' },
    });
    if (r.status !== 0) {
      let tail = '';
      try {
        tail = execFileSync('tail', ['-n', '20', log], { encoding: 'utf8' });
      } catch {
        // no log yet
      }
      throw new Error(
        `${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}${tail}`,
      );
    }
  };
  as('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-N', '-E', 'UTF8', '--locale=C']);
  // The password role first: its lines must win over the trust line.
  writeFileSync(
    join(base, 'pg_hba.conf'),
    [
      `local all all trust`,
      `host all ${PASSWORD_ROLE.user} 127.0.0.1/32 scram-sha-256`,
      `host all all 127.0.0.1/32 trust`,
      ...(options.clients ?? []).map((a) => `host all all ${a}/32 trust`),
      '',
    ].join('\n'),
  );
  spawnSync('mkdir', ['-p', socketDir]);
  if (owner) {
    chownSync(socketDir, owner.uid, owner.gid);
    chownSync(join(base, 'pg_hba.conf'), owner.uid, owner.gid);
  }
  let port = 0;
  const start = async (): Promise<void> => {
    const opts = [
      `-c listen_addresses=${listen.join(',')}`,
      `-c port=${port}`,
      `-c unix_socket_directories=${socketDir}`,
      `-c hba_file=${join(base, 'pg_hba.conf')}`,
      // A throwaway cluster: durability costs time and buys nothing here.
      `-c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      `-c max_connections=200 -c shared_buffers=16MB`,
    ].join(' ');
    as('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', log, '-o', opts]);
  };
  let started = false;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await start();
      started = true;
      break;
    } catch (err) {
      if (attempt >= 2) {
        rmSync(base, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const admin = (database: string) =>
    new pg.Client({
      host: options.netns ? socketDir : '127.0.0.1',
      port,
      user: 'postgres',
      database,
    });
  const query = async (database: string, sql: string): Promise<pg.QueryResult> => {
    const c = admin(database);
    await c.connect();
    try {
      return await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await query(
    'postgres',
    `CREATE ROLE ${PASSWORD_ROLE.user} LOGIN PASSWORD '${PASSWORD_ROLE.password}'`,
  );
  const cleanup = (): void => {
    clusters.delete(cleanup);
    if (started) {
      try {
        as('pg_ctl', ['stop', '-m', 'immediate', '-w', '-D', data]);
      } catch {
        // already stopped
      }
      started = false;
    }
    rmSync(base, { recursive: true, force: true });
  };
  clusters.add(cleanup);
  return {
    port,
    createDatabase: async (options = {}) => {
      const name = `idv_${randomBytes(6).toString('hex')}`;
      const owner = options.withPassword ? PASSWORD_ROLE.user : 'postgres';
      await query('postgres', `CREATE DATABASE ${name} OWNER ${owner}`);
      return options.withPassword
        ? `postgres://${PASSWORD_ROLE.user}:${PASSWORD_ROLE.password}@${listen[0]}:${port}/${name}`
        : `postgres://postgres@${listen[0]}:${port}/${name}`;
    },
    stop: async () => {
      as('pg_ctl', ['stop', '-m', 'fast', '-w', '-D', data]);
      started = false;
    },
    start: async () => {
      await start();
      started = true;
    },
    query,
    remove: cleanup,
  };
}
