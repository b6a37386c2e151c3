/**
 * Test helper: a real idv-agent CLI that an unprivileged user can run. The checkout (and its
 * node_modules) may sit in a folder only root can enter (CI clones into a 0700 temp dir), so the
 * program is bundled whole into a world-readable folder, with the sqlite3 addon beside it, and
 * run under setpriv as `nobody`.
 *
 *   const copy = await unprivilegedAgent();
 *   const r = await copy.run(['unlock', 'alice', '--socket', socket]);
 *   copy.remove();
 */
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { run, type RunResult } from './server.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const NOBODY = 65534;

export interface UnprivilegedAgent {
  /** `idv-agent ARGS` as uid/gid 65534 with no supplementary groups. */
  run(args: string[]): Promise<RunResult>;
  remove(): void;
}

export async function unprivilegedAgent(): Promise<UnprivilegedAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'idv-agent-copy-'));
  const bundle = join(dir, 'idv-agent.mjs');
  await build({
    entryPoints: [join(ROOT, 'agent/main.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    packages: 'bundle',
    logLevel: 'error',
    // The CommonJS dependencies call require(); in an ES module it has to be made.
    banner: {
      js: "import { createRequire as __idvRequire } from 'node:module'; const require = __idvRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'sqlite-addon-beside-bundle',
        setup(b) {
          b.onLoad({ filter: /sqlite3[\\/]lib[\\/]sqlite3-binding\.js$/ }, () => ({
            contents:
              "module.exports = require('node:module').createRequire(process.argv[1])('./node_sqlite3.node');",
            loader: 'js',
          }));
        },
      },
    ],
  });
  copyFileSync(
    join(ROOT, 'node_modules/sqlite3/build/Release/node_sqlite3.node'),
    join(dir, 'node_sqlite3.node'),
  );
  chmodSync(dir, 0o755);
  chmodSync(bundle, 0o644);
  chmodSync(join(dir, 'node_sqlite3.node'), 0o644);
  return {
    // The working directory stays the caller's, which nobody may be unable to enter: the
    // bundle is named by its absolute path and reads nothing relative to it.
    run: (args) =>
      run('setpriv', [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        process.execPath,
        bundle,
        ...args,
      ]),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
