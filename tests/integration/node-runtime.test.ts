// scripts/node-runtime.mjs: a checkout on a machine whose node is older than 24 runs on Node.js 24
// all the same (npm ci links it as node_modules/.bin/node; ./bin/* and npm scripts take it).
// The fetch itself is `npm pack` from the registry; here the cache is filled beforehand with this
// test's own node (the one vitest runs on, 24) so that the test needs no network.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const work = mkdtempSync(path.join(tmpdir(), 'idv-node-runtime-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** An older node on this machine (Debian's or the image's), if there is one. */
function olderNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node', '/usr/bin/nodejs']) {
    const r = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    if (r.status === 0 && Number(r.stdout.split('.')[0]) < 24) return candidate;
  }
  return undefined;
}

describe('node-runtime', () => {
  it('package.json asks for Node.js 24 and the tests run on it', async () => {
    const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe('>=24');
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('on Node.js 24 it names that node and links nothing', () => {
    const out = execFileSync(process.execPath, [path.join(root, 'scripts/node-runtime.mjs')], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe(process.execPath);
  });

  const older = olderNode();
  it.skipIf(!older)(
    'under an older node it links the cached Node.js 24 as node_modules/.bin/node',
    () => {
      const cache = path.join(work, 'cache');
      const build = path.join(cache, `node-linux-${process.arch}-24.99.1`);
      mkdirSync(path.join(build, 'bin'), { recursive: true });
      symlinkSync(process.execPath, path.join(build, 'bin', 'node'));
      // an older 24 and a broken entry next to it: the newest complete one is taken
      mkdirSync(path.join(cache, `node-linux-${process.arch}-24.2.0`));
      const checkout = path.join(work, 'checkout');
      mkdirSync(path.join(checkout, 'scripts'), { recursive: true });
      cpSync(
        path.join(root, 'scripts/node-runtime.mjs'),
        path.join(checkout, 'scripts/node-runtime.mjs'),
      );
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, IDV_NODE_CACHE: cache };

      const r = spawnSync(older!, [path.join(checkout, 'scripts/node-runtime.mjs')], {
        env,
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(path.join(build, 'bin', 'node'));
      const link = path.join(checkout, 'node_modules', '.bin', 'node');
      expect(readlinkSync(link)).toBe(path.join(build, 'bin', 'node'));
      // that link is the node 24 a shell then runs
      expect(execFileSync(link, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()).toBe(
        process.versions.node,
      );

      const e = spawnSync(older!, [path.join(checkout, 'scripts/node-runtime.mjs'), '--env'], {
        env,
        encoding: 'utf8',
      });
      expect(e.stdout.trim()).toBe(
        `export PATH='${path.join(build, 'bin')}':"$PATH" npm_config_nodedir='${build}'`,
      );
    },
  );

  it.skipIf(!older)('says what to do when Node.js 24 cannot be had', () => {
    const r = spawnSync(older!, [path.join(root, 'scripts/node-runtime.mjs')], {
      // an empty cache and an npm that cannot reach any registry
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: work,
        IDV_NODE_CACHE: path.join(work, 'empty-cache'),
        npm_config_registry: 'http://127.0.0.1:9/',
        npm_config_fetch_retries: '0',
      },
      encoding: 'utf8',
      cwd: work,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot fetch Node\.js 24 .*install Node\.js 24 yourself/);
  });
});
