/**
 * Builds what the module's tests run: the module (with the flags of pam-module/build.json, plus
 * sanitizers where asked) and the tiny PAM client, against Linux-PAM or against OpenPAM built
 * from shared/vendor/openpam (once per tarball, cached in node_modules/.cache/idv-openpam/).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { REPO } from '../system.js';
import { SOURCES, recipe } from './paths.js';

export interface PamLibrary {
  kind: 'linux' | 'openpam';
  /** -I and -L/-l/-rpath flags for compiling against it. */
  cflags: string[];
  libs: string[];
  /** Environment a program linked against it needs (none: rpath). */
  env: Record<string, string>;
}

export function linuxPam(): PamLibrary {
  return { kind: 'linux', cflags: [], libs: ['-lpam'], env: {} };
}

/** Where the vendored OpenPAM is: beside the checkout in CI, else this machine's shared folder. */
export function openpamVendor(): string | null {
  for (const dir of [
    path.resolve(REPO, '..', 'shared', 'vendor', 'openpam'),
    '/work/shared/vendor/openpam',
  ])
    if (existsSync(path.join(dir, 'build.sh'))) return dir;
  return null;
}

/**
 * Where OpenPAM and the modules it loads are built: not below the checkout, which may itself sit
 * under /tmp (CI clones anywhere), because OpenPAM refuses a module in any folder that others may
 * write to. /var/cache is root's, 0755, all the way up.
 */
export const SAFE_CACHE = '/var/cache/idv-tests';

/** OpenPAM built into a cache folder keyed by the tarball's hash (about a minute the first time). */
export function openpamLibrary(): PamLibrary {
  const vendor = openpamVendor();
  if (!vendor) throw new Error('OpenPAM source not found (../shared/vendor/openpam)');
  const hash = createHash('sha256')
    .update(readFileSync(path.join(vendor, 'openpam-tabebuia.tar.gz')))
    .digest('hex')
    .slice(0, 16);
  const cache = path.join(SAFE_CACHE, 'openpam');
  const prefix = path.join(cache, hash);
  if (!existsSync(path.join(prefix, 'lib', 'libpam.so.2'))) {
    // Built aside, then moved into place: parallel test files never see half a build.
    mkdirSync(cache, { recursive: true, mode: 0o755 });
    const tmp = `${prefix}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    // autoconf looks for its helper scripts in the build folder's parent and grandparent too: a
    // stray install.sh in /tmp made a build use /tmp as its aux folder (and fail). Build two
    // levels below a folder of our own instead.
    const scratch = path.join(`${tmp}.work`, 'a', 'b');
    mkdirSync(scratch, { recursive: true, mode: 0o700 });
    try {
      execFileSync('bash', [path.join(vendor, 'build.sh'), tmp], {
        stdio: 'pipe',
        env: { ...process.env, TMPDIR: scratch },
      });
    } catch (err) {
      const e = err as { stdout?: Buffer; stderr?: Buffer };
      const out = `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`.trim();
      throw new Error(`building OpenPAM failed:\n${out.split('\n').slice(-20).join('\n')}`);
    } finally {
      rmSync(`${tmp}.work`, { recursive: true, force: true });
    }
    // libtool wrote the prefix into the library's files; it is only used via -rpath below.
    try {
      renameSync(tmp, prefix);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process won the race
    }
  }
  // A prefix built as `tmp` and renamed keeps working: nothing in it is looked up by its path.
  const lib = path.join(prefix, 'lib');
  return {
    kind: 'openpam',
    cflags: ['-I', path.join(prefix, 'include')],
    libs: ['-L', lib, '-lpam', `-Wl,-rpath,${lib}`],
    env: {},
  };
}

function cc(args: string[]): void {
  try {
    execFileSync(process.env.CC || 'cc', args, { stdio: 'pipe' });
  } catch (err) {
    const e = err as { stderr?: Buffer };
    throw new Error(`cc ${args.join(' ')} failed:\n${e.stderr?.toString() ?? String(err)}`);
  }
}

/** The module as npm run build compiles it, against `lib`, with `extra` flags (sanitizers). */
export function buildModule(out: string, lib: PamLibrary, extra: string[] = []): string {
  const flags = recipe.cflags.filter(
    (f) => !(extra.some((e) => e.startsWith('-O')) && f.startsWith('-O')),
  );
  cc([...flags, ...extra, ...recipe.linux, ...lib.cflags, '-o', out, ...SOURCES, ...lib.libs]);
  return out;
}

/** tests/e2e/pam-module/pam_client.c against `lib`. */
export function buildClient(out: string, lib: PamLibrary, extra: string[] = []): string {
  const src = path.join(REPO, 'tests/e2e/pam-module/pam_client.c');
  cc([
    '-std=c11',
    '-Wall',
    '-Wextra',
    '-Werror',
    ...extra,
    ...lib.cflags,
    '-o',
    out,
    src,
    ...lib.libs,
  ]);
  return out;
}
