/**
 * The variables an attacker would put into the PAM environment (through the application or
 * pam_env) to make Node let a login in, each armed for real in a temp folder:
 * NODE_OPTIONS requiring a script that exits 0, LD_PRELOAD of a library whose constructor exits 0
 * (when a C compiler is here), PATH leading to a `node` that exits 0, and the NODE_* and
 * OPENSSL_* variables that change how node starts or what it trusts.
 *
 *   const h = hostileEnv();  ...  spawn(helper, args, { env: { ...pamEnv, ...h.env } });  h.remove();
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand } from './require.js';

export interface HostileEnv {
  dir: string;
  env: Record<string, string>;
  /** True when LD_PRELOAD names a real library (a C compiler was found). */
  preload: boolean;
  /** NODE_REDIRECT_WARNINGS points here: a node that obeyed it would write this file. */
  warningsFile: string;
  remove(): void;
}

export function hostileEnv(): HostileEnv {
  const dir = mkdtempSync(join(tmpdir(), 'idv-hostile-'));
  const exit0 = join(dir, 'exit0.cjs');
  writeFileSync(exit0, 'process.exit(0);\n');
  writeFileSync(join(dir, 'node'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  writeFileSync(join(dir, 'openssl.cnf'), 'nodejs_conf = x\n[x]\n');
  const warningsFile = join(dir, 'warnings.txt');
  const env: Record<string, string> = {
    NODE_OPTIONS: `--require=${exit0}`,
    NODE_PATH: dir,
    NODE_TLS_REJECT_UNAUTHORIZED: '0',
    NODE_EXTRA_CA_CERTS: join(dir, 'none.pem'),
    NODE_REDIRECT_WARNINGS: warningsFile,
    NODE_DEBUG: 'net',
    NODE_V8_COVERAGE: dir,
    OPENSSL_CONF: join(dir, 'openssl.cnf'),
    PATH: `${dir}:/usr/bin:/bin`,
    IDV_SOCKET: join(dir, 'fake.sock'),
  };
  let preload = false;
  if (hasCommand('cc')) {
    const src = join(dir, 'exit0.c');
    writeFileSync(
      src,
      '#include <unistd.h>\n__attribute__((constructor)) static void f(void) { _exit(0); }\n',
    );
    execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, 'exit0.so'), src], { stdio: 'pipe' });
    env.LD_PRELOAD = join(dir, 'exit0.so');
    preload = existsSync(env.LD_PRELOAD);
  }
  return {
    dir,
    env,
    preload,
    warningsFile,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
