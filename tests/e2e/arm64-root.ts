/**
 * A Debian 12 arm64 root to run arm64 programs in on this amd64 machine, under qemu-user:
 *
 * - binfmt_misc: mounted and qemu-aarch64 registered from qemu-user-static's own entry
 *   (/usr/lib/binfmt.d/qemu-aarch64.conf, flag F: the interpreter is opened at registration, so it
 *   works inside a chroot); undone at the end when this test did it.
 * - the root itself: `debootstrap --arch arm64 --variant=minbase --include=pamtester bookworm`
 *   from this machine's Debian mirror, made once and cached outside the checkout in
 *   /var/cache/idv-test/ (IDV_TEST_CACHE), built in a `.partial` folder and renamed when done, so
 *   an interrupted run never leaves a half root that counts as cached.
 * - each use: an overlay on the cached root (the test's changes go to a temp folder, the cache
 *   stays clean), with /proc and /dev mounted in it, all unmounted by `remove()`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const CACHE = process.env.IDV_TEST_CACHE || '/var/cache/idv-test';
const BINFMT = '/proc/sys/fs/binfmt_misc';
const QEMU_ENTRY = '/usr/lib/binfmt.d/qemu-aarch64.conf';
export const ARM64_ROOT_CACHE = join(CACHE, 'debian-bookworm-arm64');

const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The Debian mirror this machine's apt uses (deb.debian.org when none is found). */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list'];
  if (existsSync('/etc/apt/sources.list.d'))
    for (const f of readdirSync('/etc/apt/sources.list.d'))
      files.push(`/etc/apt/sources.list.d/${f}`);
  for (const f of files) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const m = /^\s*(?:URIs:|deb)\s+(?:\[[^\]]*\]\s+)?(https?:\/\/\S+)/.exec(line);
      if (m && !/security/.test(m[1] as string)) return (m[1] as string).replace(/\/$/, '');
    }
  }
  return 'http://deb.debian.org/debian';
}

/** Makes arm64 programs run here; returns how to undo what it changed. */
export function enableArm64Binfmt(): () => void {
  const undo: (() => void)[] = [];
  if (!existsSync(join(BINFMT, 'register'))) {
    sh('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT]);
    undo.push(() => sh('umount', [BINFMT]));
  }
  if (!existsSync(join(BINFMT, 'qemu-aarch64'))) {
    execFileSync('sh', ['-c', `cat ${QEMU_ENTRY} > ${BINFMT}/register`]);
    undo.unshift(() => execFileSync('sh', ['-c', `echo -1 > ${BINFMT}/qemu-aarch64`]));
  }
  return () => {
    for (const u of undo) {
      try {
        u();
      } catch {
        // best effort: another user may hold binfmt_misc
      }
    }
  };
}

/** The cached arm64 root, made with debootstrap when it is not there yet (minutes, once). */
export function arm64RootCache(): string {
  if (existsSync(join(ARM64_ROOT_CACHE, 'usr/bin/pamtester'))) return ARM64_ROOT_CACHE;
  const partial = `${ARM64_ROOT_CACHE}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(CACHE, { recursive: true, mode: 0o755 });
  execFileSync(
    'debootstrap',
    [
      '--arch',
      'arm64',
      '--variant=minbase',
      '--include=pamtester',
      'bookworm',
      partial,
      debianMirror(),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  rmSync(ARM64_ROOT_CACHE, { recursive: true, force: true });
  renameSync(partial, ARM64_ROOT_CACHE);
  return ARM64_ROOT_CACHE;
}

export interface Arm64Root {
  /** The merged root: chroot into it. */
  dir: string;
  /** Runs a command inside the root (chroot); throws on a non-zero exit. */
  run(args: string[], input?: string): string;
  /** Makes a folder of this machine visible at `inside` (an absolute path in the root). */
  bind(hostDir: string, inside: string): void;
  remove(): void;
}

/** An overlay of the cached root in `tmp` (a folder of the test's own), /proc and /dev in it. */
export function mountArm64Root(tmp: string): Arm64Root {
  const lower = arm64RootCache();
  const [upper, work, dir] = ['upper', 'work', 'root'].map((d) => join(tmp, d)) as [
    string,
    string,
    string,
  ];
  for (const d of [upper, work, dir]) mkdirSync(d, { recursive: true });
  const mounted: string[] = [];
  const remove = () => {
    for (const m of mounted.reverse()) {
      try {
        sh('umount', ['-l', m]);
      } catch {
        // already gone
      }
    }
    mounted.length = 0;
  };
  try {
    sh('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      dir,
    ]);
    mounted.push(dir);
    sh('mount', ['-t', 'proc', 'proc', join(dir, 'proc')]);
    mounted.push(join(dir, 'proc'));
    sh('mount', ['--bind', '/dev', join(dir, 'dev')]);
    mounted.push(join(dir, 'dev'));
  } catch (err) {
    remove();
    throw err;
  }
  return {
    dir,
    run: (args, input) =>
      execFileSync('chroot', [dir, ...args], {
        encoding: 'utf8',
        input,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
        timeout: 300_000,
      }),
    bind: (hostDir, inside) => {
      const at = join(dir, inside);
      mkdirSync(at, { recursive: true });
      sh('mount', ['--bind', hostDir, at]);
      mounted.push(at);
    },
    remove,
  };
}
