import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLoopback, loadConfig } from '../../server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'idv-config-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (data: unknown) => {
  const p = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify(data));
  return p;
};

describe('server config', () => {
  it('layers defaults < file < env < flags and freezes the result', () => {
    const f = file({
      dataDir: '/from/file',
      listen: '127.0.0.1:1',
      heartbeatSeconds: 5,
      logLevel: 'warn',
    });
    const c = loadConfig({
      file: f,
      env: { IDV_LISTEN: '127.0.0.1:2', IDV_LOG_LEVEL: 'error' },
      flags: { listen: '127.0.0.1:3' },
    });
    expect(c).toMatchObject({
      dataDir: '/from/file',
      listen: '127.0.0.1:3',
      heartbeatSeconds: 5,
      logLevel: 'error',
      maxDeltaChanges: 1000,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('has safe connection limits by default and refuses ones that contradict each other', () => {
    const c = loadConfig({ env: {}, flags: {} });
    expect(c).toMatchObject({
      helloTimeoutSeconds: 5,
      headersTimeoutSeconds: 10,
      requestTimeoutSeconds: 30,
      maxConnectionsPerAddress: 128,
      maxPendingConnections: 4096,
      maxPendingHellosPerAddress: 32,
      maxPendingHellos: 1024,
    });
    const load = (data: unknown) => () => loadConfig({ file: file(data), env: {}, flags: {} });
    expect(load({ maxConnectionsPerAddress: 0 })).toThrow(/maxConnectionsPerAddress/);
    expect(load({ maxPendingHellos: 1.5 })).toThrow(/maxPendingHellos/);
    expect(load({ headersTimeoutSeconds: 'soon' })).toThrow(/headersTimeoutSeconds/);
    expect(load({ headersTimeoutSeconds: 60, requestTimeoutSeconds: 30 })).toThrow(
      /headersTimeoutSeconds must not be more than requestTimeoutSeconds/,
    );
    expect(load({ maxConnectionsPerAddress: 100, maxPendingConnections: 10 })).toThrow(
      /maxConnectionsPerAddress must not be more than maxPendingConnections/,
    );
    expect(load({ maxPendingHellosPerAddress: 100, maxPendingHellos: 10 })).toThrow(
      /maxPendingHellosPerAddress must not be more than maxPendingHellos/,
    );
  });

  it('allows plain http on loopback only, unless insecure or TLS', () => {
    expect(() => loadConfig({ env: {}, flags: { listen: '10.1.2.3:80' } })).toThrow(
      /refusing plain http on 10\.1\.2\.3/,
    );
    expect(loadConfig({ env: {}, flags: { listen: '10.1.2.3:80', insecure: true } }).insecure).toBe(
      true,
    );
    expect(loadConfig({ env: {}, flags: { listen: '[::1]:80' } }).listen).toBe('[::1]:80');
    expect(() => loadConfig({ env: {}, flags: { tlsCert: '/c' } })).toThrow(/together/);
    expect([
      isLoopback('127.9.9.9'),
      isLoopback('::1'),
      isLoopback('localhost'),
      isLoopback('0.0.0.0'),
      isLoopback('example.com'),
    ]).toEqual([true, true, true, false, false]);
  });

  it('refuses plain http on every wildcard and non-loopback spelling (fails closed when unsure)', () => {
    for (const listen of [
      '0.0.0.0:80',
      '[::]:80',
      '[::ffff:127.0.0.1]:80',
      '[::ffff:10.0.0.1]:80',
      '[0:0:0:0:0:0:0:0]:80',
      '127.0.0.1.nip.io:80',
      'localhost.example.com:80',
    ])
      expect(() => loadConfig({ env: {}, flags: { listen } }), listen).toThrow(
        /refusing plain http/,
      );
    for (const listen of ['127.0.0.1:80', '[::1]:80', 'localhost:80'])
      expect(loadConfig({ env: {}, flags: { listen } }).listen).toBe(listen);
  });

  it('names the file and the field on error', () => {
    const f = file({ maxDeltaChanges: 0 });
    expect(() => loadConfig({ file: f, env: {}, flags: {} })).toThrow(
      new RegExp(`${f}.*maxDeltaChanges`),
    );
    expect(() => loadConfig({ env: {}, flags: { listen: 'nowhere' } })).toThrow(
      /listen: must be HOST:PORT/,
    );
    expect(() => loadConfig({ file: join(dir, 'absent.json'), env: {}, flags: {} })).toThrow(
      /absent\.json: cannot read the file \(ENOENT\)/,
    );
  });
});
