/**
 * Test helper: `idv-server` replicas on one real PostgreSQL (tests/helpers/postgres.ts).
 *
 *   const { servers: [a, b] } = await startReplicas(cluster, 2);
 *
 * `init --database` once on a fresh database, then `count` real `serve` processes, each on its
 * own copy of the data folder (as docs/scale.md tells an operator). Their temp folders go when
 * the test file ends (tests/helpers/server.ts).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PgCluster } from './postgres.js';
import { run, SERVER_BIN, startServer, type TestServer } from './server.js';

const bases: string[] = [];
if (process.env.VITEST) {
  const { afterAll } = await import('vitest');
  afterAll(() => {
    for (const d of bases.splice(0)) rmSync(d, { recursive: true, force: true });
  });
}

export async function startReplicas(
  pg: PgCluster,
  count: number,
  /** Every replica's config, or each one's by its index. */
  config: Record<string, unknown> | ((i: number) => Record<string, unknown>) = {},
  /** Each replica's database URL (another address of the same cluster), by its index. */
  urlFor: (url: string, i: number) => string = (url) => url,
): Promise<{ servers: TestServer[]; url: string }> {
  const url = await pg.createDatabase();
  const base = mkdtempSync(join(tmpdir(), 'idv-replicas-'));
  bases.push(base);
  const first = join(base, 'r0');
  const init = await run(SERVER_BIN, ['init', '--database', url, '--data-dir', first, '--json']);
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}${init.stdout}`);
  const servers: TestServer[] = [];
  for (let i = 0; i < count; i++) {
    const dir = join(base, `r${i}`);
    if (i > 0) cpSync(first, dir, { recursive: true });
    servers.push(
      await startServer({
        dataDir: dir,
        env: { IDV_DATABASE_URL: urlFor(url, i) },
        config: {
          maxConnectionsPerAddress: 1000,
          ...(typeof config === 'function' ? config(i) : config),
        },
      }),
    );
  }
  return { servers, url };
}

/** Polls `check` until it holds (never a fixed sleep): generous, the machine is shared. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
