/**
 * The agent's own disk full (a small tmpfs mounted on its data directory; root only): once the
 * agent has synced, logins keep being decided after the disk is filled to the brim (the cache
 * keeps its write-ahead log and some free pages preallocated), and when even that is used up the
 * refusals are counted, named in `status` as this machine's full disk, and reported to the server
 * once space is back.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Database } from '../../protocol/io/sqlite.js';
import { missing } from '../helpers/require.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import {
  addEnrolledUser,
  agentStatus,
  askAgent,
  begin,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';

const why = missing({ root: true, commands: ['mount', 'umount'] });

let server: TestServer | undefined;
let agent: TestAgent | undefined;
let mounted: string | null = null;
afterEach(async () => {
  await agent?.kill();
  if (mounted) execFileSync('umount', ['-l', mounted]);
  mounted = null;
  await agent?.stop();
  server?.kill();
  agent = undefined;
  server = undefined;
});

/** Moves the (stopped) agent's data directory onto a fresh tmpfs of `size`. */
function ontoTmpfs(dataDir: string, size: string): void {
  const keep = mkdtempSync(join(tmpdir(), 'idv-disk-full-'));
  cpSync(dataDir, keep, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dataDir]);
  mounted = dataDir;
  cpSync(keep, dataDir, { recursive: true });
  rmSync(keep, { recursive: true, force: true });
}

/** Writes zeros to `file` until not one more byte fits. */
function fill(file: string): void {
  const fd = openSync(file, 'a');
  try {
    for (const size of [1 << 20, 1 << 16, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          if (writeSync(fd, chunk) < size) break;
        } catch {
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

async function synced(agentConfig: Record<string, unknown> = {}): Promise<TestAgent> {
  server = await startServer();
  await addEnrolledUser(server, 'alice');
  const a = await startAgent({ server, agentConfig });
  await waitConnected(a, true);
  await a.kill('SIGTERM');
  ontoTmpfs(a.dataDir, '4m');
  await a.restart();
  await waitConnected(a, true);
  return a;
}

describe.skipIf(why)(`the agent's disk full${why ? ` (skipped: ${why})` : ''}`, () => {
  it('logins keep being decided after the disk is filled to the brim', async () => {
    agent = await synced();
    fill(join(agent.dataDir, 'filler'));
    const replies: unknown[] = [];
    for (let i = 0; i < 60; i++) replies.push((await askAgent(agent.socket, [begin('alice')]))[0]);
    expect(replies.filter((r) => (r as { type: string }).type !== 'prompt')).toEqual([]);
    // The outbox drains too (its deletes need no new space either).
    await waitFor(async () => (await agentStatus(agent!)).outbox === 0, 'outbox uploaded');
  }, 120_000);

  it('refused logins are counted, named as the local disk in status, and reported once space is back', async () => {
    agent = await synced();
    const filler = join(agent.dataDir, 'filler');
    fill(filler);
    // A reader holding a snapshot (a backup, say) keeps the log from being reused from its
    // start: it has to grow, and cannot.
    const reader = await Database.open(join(agent.dataDir, 'cache.db'), { readonly: true });
    let release = () => undefined as void;
    const held = new Promise<void>((r) => (release = r));
    let holding = false;
    const hold = reader.transaction(async (tx) => {
      await tx.get('SELECT count(*) AS n FROM outbox');
      holding = true;
      await held;
    });
    try {
      await waitFor(() => holding, 'the reader holds its snapshot');
      let refused = 0;
      for (let i = 0; i < 500 && refused < 3; i++) {
        const [r] = await askAgent(agent.socket, [begin('alice')]);
        if ((r as { type: string }).type === 'prompt') {
          expect(refused).toBe(0);
          continue;
        }
        expect(r).toMatchObject({ type: 'error', code: 'DISK_FULL' });
        expect((r as { message: string }).message).toMatch(/this machine's disk is full/);
        refused++;
      }
      expect(refused).toBe(3);
      const full = (await agentStatus(agent)) as Record<string, unknown>;
      // Three begins, and the abandoned prompts whose event could not be written either.
      expect(full.diskFull).toMatchObject({ cause: 'SQLITE_FULL' });
      expect((full.diskFull as { refusedLogins: number }).refusedLogins).toBeGreaterThanOrEqual(3);
      // A change pushed now cannot be applied either: this machine's disk, not a refusal.
      await addEnrolledUser(server!, 'bob');
      const sync = (await waitFor(async () => {
        const s = (await agentStatus(agent!)) as Record<string, unknown>;
        return (s.syncError as { code?: string } | null)?.code === 'DISK_FULL' ? s : null;
      }, 'syncError DISK_FULL')) as Record<string, unknown>;
      expect((sync.syncError as { message: string }).message).toMatch(
        /this machine's disk is full .*cannot apply the server's/,
      );
      const text = (await agent.cli(['status'])).stdout;
      expect(text).toMatch(
        /^disk: {7}full or read-only since \S+ \(SQLITE_FULL\): \d+ login\(s\) refused/m,
      );
      expect(text).not.toMatch(/refused the sync/);
    } finally {
      release();
      await hold;
      await reader.close();
    }

    unlinkSync(filler);
    expect((await askAgent(agent.socket, [begin('alice')]))[0]).toMatchObject({ type: 'prompt' });
    await waitFor(
      async () => {
        const s = (await agentStatus(agent!)) as Record<string, unknown>;
        return s.connected && s.outbox === 0 && !s.diskFull && !s.syncError && s.users === 2;
      },
      'reported and in sync again',
      30_000,
    );
    const ev = await idvctl(server!, ['events', '--user', 'alice']);
    const reported = /"(\d+) logins refused while the disk was full"/.exec(JSON.stringify(ev.json));
    expect(Number(reported?.[1])).toBeGreaterThanOrEqual(3);
  }, 180_000);
});
