import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay } from '../../agent/controlclient/backoff.js';
import { endpoint, parseServerUrl } from '../../agent/controlclient/register.js';
import { agentPaths, loadAgentFile } from '../../agent/config.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function file(content: string): string {
  const d = mkdtempSync(join(tmpdir(), 'idv-agent-cfg-'));
  dirs.push(d);
  const p = join(d, 'agent.json');
  writeFileSync(p, content);
  return p;
}
const good = {
  version: 1,
  server: 'https://idv.example.com',
  deviceId: '0b5c3f1e-8c1a-4f5e-9a51-6f2a9d7f2b10',
  deviceGroup: 'default',
  registeredAt: '2026-11-28T12:00:00.000Z',
};

describe('backoff', () => {
  it('full jitter under an exponential ceiling, capped', () => {
    const o = { baseMs: 500, capMs: 30_000 };
    expect(backoffDelay(0, { ...o, random: () => 0.999 })).toBeLessThan(500);
    expect(backoffDelay(3, { ...o, random: () => 0.999 })).toBe(3996);
    expect(backoffDelay(50, { ...o, random: () => 0.999 })).toBeLessThan(30_000);
    expect(backoffDelay(50, { ...o, random: () => 0 })).toBe(0);
  });
});

describe('agent.json', () => {
  it('loads a valid file, frozen', () => {
    const cfg = loadAgentFile(file(JSON.stringify(good)));
    expect(cfg.deviceId).toBe(good.deviceId);
    expect(Object.isFrozen(cfg)).toBe(true);
  });
  it('names the file and the reason for unknown keys, bad values and bad JSON', () => {
    const p1 = file(JSON.stringify({ ...good, extra: 1 }));
    expect(() => loadAgentFile(p1)).toThrow(p1);
    expect(() => loadAgentFile(file(JSON.stringify({ ...good, server: 'ftp://x' })))).toThrow(
      /server/,
    );
    expect(() => loadAgentFile(file('{'))).toThrow(/not valid JSON/);
  });
  it('a missing file means not registered', () => {
    expect(() => loadAgentFile('/nonexistent/agent.json')).toThrow(
      expect.objectContaining({ code: 'NOT_REGISTERED' }),
    );
  });
  it('paths: flags over environment over defaults', () => {
    expect(agentPaths({}, {}).socket).toBe('/run/idv/agent.sock');
    expect(agentPaths({}, { IDV_DATA_DIR: '/tmp/x' }).cacheDb).toBe('/tmp/x/cache.db');
    expect(agentPaths({ dataDir: '/a' }, { IDV_DATA_DIR: '/tmp/x' }).dataDir).toBe('/a');
  });
});

describe('server URL', () => {
  it('keeps a path prefix and maps to ws/wss', () => {
    expect(endpoint(parseServerUrl('https://h/idv/'), 'agent', 'ws').href).toBe(
      'wss://h/idv/v1/agent',
    );
    expect(endpoint(parseServerUrl('http://h:8080'), 'register').href).toBe(
      'http://h:8080/v1/register',
    );
    expect(() => parseServerUrl('idv.example.com')).toThrow(/URL/);
  });
});
