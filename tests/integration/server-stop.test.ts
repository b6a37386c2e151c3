/**
 * Stopping the server (SIGTERM's path) while a follower of the events stream has gone away: the
 * stop completes instead of waiting out the connection's keep-alive (72 s), and the feed holds no
 * listener of the departed follower.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createLogger } from '../../protocol/io/log.js';
import { loadConfig } from '../../server/config.js';
import { initDataDir } from '../../server/datadir.js';
import { startServer } from '../../server/serve.js';

it('stops promptly after an events follower disconnected', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idv-stop-'));
  try {
    const { token } = await initDataDir(join(dir, 'data'), Date.now());
    const server = await startServer(
      loadConfig({ flags: { dataDir: join(dir, 'data'), listen: '127.0.0.1:0' }, env: {} }),
      { log: createLogger('idv-server', { level: 'silent' }) },
    );
    const ctl = new AbortController();
    const res = await fetch(`${server.url}/v1/events/stream`, {
      headers: { authorization: `Bearer ${token}` },
      signal: ctl.signal,
    });
    expect(res.status).toBe(200);
    await res.body?.getReader().read();
    ctl.abort();
    // Let the server see the client go (the hang needs the abort handled before the stop).
    await new Promise((r) => setTimeout(r, 1000));
    const started = Date.now();
    await server.stop();
    // The keep-alive is 72 s; the stop's grace for requests in flight is 5 s.
    expect(Date.now() - started).toBeLessThan(30_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
