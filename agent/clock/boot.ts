/**
 * What the agent knows about this boot: an id that changes at every boot, and a clock that counts
 * from boot, suspend included, whatever anyone does to the wall clock.
 *
 * Linux: the id is /proc/sys/kernel/random/boot_id; the clock is /proc/uptime, which the kernel
 * reads from CLOCK_BOOTTIME. Not process.hrtime (CLOCK_MONOTONIC): that one stops while a laptop
 * sleeps, and a reading taken before a night in suspend would put the trusted time hours behind.
 * Both clocks run at the rate NTP gives the wall clock (one timekeeper), so the boot clock drifts no
 * more than the wall clock does; it only ignores steps (date -s, a dead RTC battery, NTP steps).
 *
 * macOS (not tested here, no Mac on this machine): the id is `sysctl kern.bootsessionuuid`, else
 * kern.boottime; the clock is os.uptime(), which libuv computes from kern.boottime (XNU moves
 * boottime with the wall clock, so the difference counts from boot, sleep included).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { uptime } from 'node:os';

export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

export interface Boot {
  /** Changes at every boot; null when the system does not say (then no reading is trusted). */
  readonly id: string | null;
  /** Milliseconds since boot, suspend included; never goes back within one boot. */
  clockMs(): number;
}

/**
 * This machine's boot. `idFile` is a test seam (IDV_BOOT_ID_FILE: a test cannot reboot); pointing
 * it at a file that changes only makes the agent trust less (it then behaves as after a reboot).
 */
export function systemBoot(idFile: string = BOOT_ID_FILE): Boot {
  if (process.platform === 'linux') {
    return { id: readId(idFile), clockMs: linuxUptimeMs };
  }
  return { id: darwinBootId(), clockMs: () => Math.round(uptime() * 1000) };
}

function readId(file: string): string | null {
  try {
    const id = readFileSync(file, 'utf8').trim();
    return id.length > 0 && id.length <= 128 ? id : null;
  } catch {
    return null;
  }
}

function linuxUptimeMs(): number {
  try {
    // "12345.67 54321.00": seconds since boot (CLOCK_BOOTTIME), 10 ms resolution.
    const first = readFileSync('/proc/uptime', 'latin1').split(' ')[0] ?? '';
    const s = Number(first);
    if (Number.isFinite(s) && s >= 0) return Math.round(s * 1000);
  } catch {
    // fall through
  }
  return Math.round(uptime() * 1000);
}

function darwinBootId(): string | null {
  for (const key of ['kern.bootsessionuuid', 'kern.boottime']) {
    try {
      const out = execFileSync('/usr/sbin/sysctl', ['-n', key], {
        encoding: 'utf8',
        timeout: 2000,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
      if (out) return `${key}:${out.slice(0, 100)}`;
    } catch {
      // next
    }
  }
  return null;
}
