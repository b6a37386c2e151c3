/**
 * Registration sends the token, and the live sync then brings TOTP secrets: over plain http that
 * is acceptable on loopback only. Elsewhere the agent refuses unless told --insecure (a TLS proxy
 * in front, on purpose), and the choice is written to agent.json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/server.js';
import { AGENT_BIN } from '../helpers/agent.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'idv-agent-insecure-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const TOKEN = `idv_${'x'.repeat(40)}`;

describe('idv-agent register over plain http', () => {
  it('refuses http:// to a host that is not loopback, without sending anything', async () => {
    const r = await run(AGENT_BIN, [
      'register',
      '--json',
      '--server',
      'http://idv.example.invalid:8080',
      `--token=${TOKEN}`,
      '--data-dir',
      join(dir, 'a'),
    ]);
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({
      error: { code: 'USAGE', message: expect.stringContaining('--insecure') },
    });
  });

  it('with --insecure it tries (and says the server is unreachable here)', async () => {
    const r = await run(AGENT_BIN, [
      'register',
      '--json',
      '--insecure',
      '--server',
      'http://idv.example.invalid:8080',
      `--token=${TOKEN}`,
      '--data-dir',
      join(dir, 'b'),
    ]);
    expect(r.json).toMatchObject({ error: { code: 'SERVER_UNREACHABLE' } });
    expect(() => readFileSync(join(dir, 'b', 'agent.json'))).toThrow();
  });
});
