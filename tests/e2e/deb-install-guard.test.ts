// deb-install.test.ts on a machine where idv is installed (or removed with its config and data
// kept) must refuse to start and touch nothing: its cleanup once purged both packages anyway,
// taking a real installation's database, master key, cache and PAM lines with it. Runs that test
// file in a child vitest with stand-in dpkg commands first on PATH: dpkg-query says the packages
// are there, dpkg only writes down what it was asked. The machine's dpkg is never called to
// change anything.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';

// The child suite runs only as root (it skips otherwise, and would prove nothing).
const skip = missing({ root: true });

let bin: string;
let log: string;

function fakes(status: string): void {
  // dpkg-query answers for the two idv packages and hands every other question (the build's
  // `dpkg-query -L libpam-modules`) to the real one, which only reads.
  writeFileSync(
    join(bin, 'dpkg-query'),
    `#!/bin/sh
case "$*" in
  *idv-agent*|*idv-server*) printf '%s' '${status}'; exit 0 ;;
esac
exec /usr/bin/dpkg-query "$@"
`,
  );
  for (const cmd of ['dpkg', 'dpkg-deb', 'systemd-analyze', 'pamtester'])
    writeFileSync(join(bin, cmd), `#!/bin/sh\necho "${cmd} $*" >>'${log}'\nexit 0\n`);
  for (const cmd of ['dpkg-query', 'dpkg', 'dpkg-deb', 'systemd-analyze', 'pamtester'])
    chmodSync(join(bin, cmd), 0o755);
}

function runDebTest(): Promise<string> {
  // A config of its own, without the build in globalSetup: rebuilding dist/ under the tests that
  // run at the same time would swap their programs and module underneath them.
  const config = join(bin, 'vitest.config.mjs');
  writeFileSync(config, `export default { test: { pool: 'forks', hookTimeout: 60000 } };\n`);
  return new Promise((done) =>
    execFile(
      process.execPath,
      [
        resolve('node_modules/vitest/vitest.mjs'),
        'run',
        '--root',
        resolve('.'),
        '--config',
        config,
        'tests/e2e/deb-install.test.ts',
      ],
      {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, NO_COLOR: '1' },
        timeout: 240_000,
      },
      (_err, stdout, stderr) => done(`${stdout}${stderr}`),
    ),
  );
}

describe.skipIf(skip !== null)(
  `deb-install.test.ts with idv already here${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    beforeAll(() => {
      bin = mkdtempSync(join(tmpdir(), 'idv-deb-guard-'));
      log = join(bin, 'calls.log');
    });
    afterAll(() => rmSync(bin, { recursive: true, force: true }));

    for (const status of ['install ok installed', 'deinstall ok config-files'])
      it(`refuses and purges nothing when dpkg says "${status}"`, async () => {
        writeFileSync(log, '');
        fakes(status);
        const out = await runDebTest();
        expect(out).toContain('is already known to dpkg here');
        const calls = readFileSync(log, 'utf8');
        expect(calls).not.toMatch(/^dpkg .*(--purge|--remove|-P|-r)\b/m);
        expect(calls).not.toMatch(/^dpkg .*idv-/m);
      }, 300_000);
  },
);
