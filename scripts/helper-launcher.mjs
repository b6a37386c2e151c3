// Compiles pam-helper/launcher.c: the small program pam_exec runs as idv-pam-helper, which drops
// every variable but PAM_* and execs node (script form) or the single executable by an absolute
// path. Used by scripts/build.mjs (dist/idv-pam-helper), scripts/package.mjs (packaging/out) and
// packaging/deb/build.mjs (/usr/bin/idv-pam-helper).
import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = resolve(dirname(fileURLToPath(import.meta.url)), '../pam-helper/launcher.c');

const cString = (s) => JSON.stringify(s); // a C string literal for an absolute path

/**
 * @param {{ out: string, exec: string, script?: string, cc?: string, strip?: string }} o
 *   out: the file to write; exec: absolute path of node or of the single executable;
 *   script: with node, absolute path of dist/idv-pam-helper.cjs; cc, strip: a cross toolchain's
 *   (aarch64-linux-gnu-gcc, ...) for another architecture, else $CC or cc and strip
 * @returns {{ static: boolean }} whether it is statically linked (LD_PRELOAD cannot reach it)
 */
export function buildLauncher({ out, exec, script, cc = process.env.CC || 'cc', strip = 'strip' }) {
  for (const p of [exec, script]) {
    if (p !== undefined && (!isAbsolute(p) || /["\\\n]/.test(p)))
      throw new Error(`launcher: ${p} must be an absolute path without quotes or backslashes`);
  }
  const defines = [
    `-DIDV_EXEC=${cString(exec)}`,
    ...(script ? [`-DIDV_SCRIPT=${cString(script)}`] : []),
  ];
  const base = ['-Os', '-Wall', '-Wextra', '-Werror', ...defines, '-o', out, SOURCE];
  rmSync(out, { force: true });
  let linkedStatic = true;
  try {
    // macOS has no static libc; glibc and musl do.
    execFileSync(cc, ['-static', ...base], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch {
    linkedStatic = false;
    execFileSync(cc, base, { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  try {
    execFileSync(strip, [out], { stdio: 'ignore' });
  } catch {
    // a symbol table costs only size
  }
  chmodSync(out, 0o755);
  return { static: linkedStatic };
}

/** Where the script-form launcher lives in a checkout. */
export const CHECKOUT_LAUNCHER = join('dist', 'idv-pam-helper');
