// `npm run package -- --arch ARCH` refusals: they say what to do, exit non-zero, and write no
// package (the arm64 build itself: tests/e2e/arm64-deb.test.ts).
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand } from '../helpers/require.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'idv-package-arch-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function pack(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [resolve('scripts/package.mjs'), ...args], {
    encoding: 'utf8',
    env,
    timeout: 120_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('npm run package -- --arch', () => {
  it('refuses an unknown architecture with the ones it knows (exit 2), and builds nothing', () => {
    const out = join(tmp, 'sparc');
    const r = pack(['--deb', '--arch', 'sparc64', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.out).toContain('unknown --arch "sparc64" (use amd64 or arm64');
    expect(existsSync(out)).toBe(false);
    expect(pack(['--deb', '--arch']).out).toContain('--arch needs a value');
  });

  it('without the cross compilers: names the Debian packages to install, exits 1, builds nothing', () => {
    // A PATH with node and nothing else: no aarch64-linux-gnu-* tools.
    const bin = join(tmp, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const out = join(tmp, 'no-cross');
    const r = pack(['--deb', '--arch', 'arm64', '--out', out], { ...process.env, PATH: bin });
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      'building for arm64 needs gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu, binutils-aarch64-linux-gnu',
    );
    expect(r.out).toMatch(/apt-get install --no-install-recommends gcc-aarch64-linux-gnu /);
    expect(existsSync(out)).toBe(false);
  });

  it.skipIf(!hasCommand('aarch64-linux-gnu-gcc'))(
    '--deb-only over a binary of another architecture: refused, no package',
    () => {
      const out = join(tmp, 'stale');
      mkdirSync(out);
      // An amd64 program where the arm64 binary should be (a build for the other arch left it).
      copyFileSync('/bin/true', join(out, 'idv'));
      copyFileSync('/bin/true', join(out, 'node_sqlite3.node'));
      const r = pack(['--deb-only', '--arch', 'arm64', '--out', out]);
      expect(r.code).toBe(1);
      expect(r.out).toContain('idv is not an arm64 program (ELF machine 0x3e)');
      expect(readdirSync(out).filter((f) => f.endsWith('.deb') || f.endsWith('.partial'))).toEqual(
        [],
      );
    },
  );
});
