/**
 * bench:scale (1): two replicas on one PostgreSQL cluster of our own (tests/helpers/postgres.ts).
 * One admin change through replica A, until every agent acked: all agents on A, then half of them
 * moved to B (they reconnect there with the revision they have).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from '../tests/helpers/postgres.js';
import { adminApi, SimAgent } from '../tests/helpers/sim-agent.js';
import { sleep, stopChild } from './common.js';
import {
  connectAll,
  populate,
  ROOT,
  serve,
  SERVER_ENV,
  timed,
  writeConfig,
  type IdvProcess,
  type Window,
} from './fleet.js';

export async function startPushCluster(
  n: number,
  rounds: number,
): Promise<string | { same: Window[]; cross: Window[] }> {
  const pg = await startPostgres();
  if (!pg) return 'PostgreSQL is not installed (apt-get install postgresql)';
  const base = mkdtempSync(join(tmpdir(), 'idv-bench-replicas-'));
  const servers: IdvProcess[] = [];
  const agents: SimAgent[] = [];
  try {
    const url = await pg.createDatabase();
    const dirA = join(base, 'a');
    const dirB = join(base, 'b');
    const init = execFileSync(
      process.execPath,
      [join(ROOT, 'bin/idv-server'), 'init', '--database', url, '--data-dir', dirA, '--json'],
      { encoding: 'utf8', env: SERVER_ENV },
    );
    const adminToken = (JSON.parse(init) as { adminToken: string }).adminToken;
    cpSync(dirA, dirB, { recursive: true });
    const config = writeConfig(base);
    const a = await serve(dirA, config, '127.0.0.1:0', ['--database', url]);
    servers.push(a);
    const b = await serve(dirB, config, '127.0.0.1:0', ['--database', url]);
    servers.push(b);
    process.stderr.write(`push: registering ${n} devices...\n`);
    const ids = await populate({ url: a.url, adminToken }, n);
    for (const id of ids) agents.push(new SimAgent(a.url, id));
    await connectAll(agents);
    let received = 0;
    let onAll: (() => void) | null = null;
    const count = () => {
      if (++received === n) onAll?.();
    };
    for (const ag of agents) ag.onSync = count;
    const round = async (r: number) =>
      timed(async () => {
        received = 0;
        const all = new Promise<void>((resolve) => (onAll = resolve));
        await adminApi({ url: a.url, adminToken }, 'PATCH', '/v1/policies/default', {
          maxAttempts: 3 + (r % 2),
        });
        await all;
      });
    const series = async (): Promise<Window[]> => {
      const out: Window[] = [];
      for (let r = 0; r <= rounds; r++) {
        const w = await round(r);
        if (r > 0) out.push(w); // round 0 warms up
        await sleep(1500); // acked revisions are written once a second: let both go quiet
      }
      return out;
    };
    process.stderr.write(`push: ${rounds} rounds with all ${n} agents on A...\n`);
    const same = await series();
    process.stderr.write(`push: moving half of them to B...\n`);
    const moved: SimAgent[] = [];
    for (let i = 0; i < agents.length; i += 2) {
      const old = agents[i] as SimAgent;
      await old.close();
      const fresh = new SimAgent(b.url, old.identity);
      fresh.revision = old.revision;
      agents[i] = fresh;
      moved.push(fresh);
    }
    await connectAll(moved);
    for (const ag of moved) ag.onSync = count;
    process.stderr.write(`push: ${rounds} rounds with half on B...\n`);
    const cross = await series();
    return { same, cross };
  } finally {
    await Promise.all(agents.map((ag) => ag.close()));
    for (const s of servers) await stopChild(s.child);
    pg.remove();
    rmSync(base, { recursive: true, force: true });
  }
}
