/**
 * The agent's own disk full (a small tmpfs mounted on its data directory; root only): once the
 * agent has synced, logins keep being decided after the disk is filled to the brim (the cache
 * keeps its write-ahead log and some free pages preallocated), and when even that is used up the
 * refusals are counted, named in `status` as this machine's full disk, and reported to the server
 * once space is back.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { startServer, type TestServer } from '../helpers/server.js';
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
});
