// scripts/package.mjs's --rpm and --rpm-only: the .rpms from packaging/out/idv (packaging/rpm/
// build.mjs). Kept apart so that the .deb and .rpm options change in files of their own.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildRpms, rpmbuildMissing } from './build.mjs';

export const RPM_OPTIONS = ['--rpm', '--rpm-only'];
export const wantsRpms = (args) => RPM_OPTIONS.some((o) => args.has(o));

/**
 * Builds the .rpms when asked to. A missing rpmbuild is said before anything is built, with the
 * package to install, and exits 1.
 */
export function packageRpms({ root, out, args, step, nodeArch, pamModule, cc }) {
  if (!RPM_OPTIONS.some((o) => args.has(o))) return;
  checkRpmTools(args);
  if (!existsSync(join(out, 'idv'))) {
    console.error(`package: ${join(out, 'idv')} is missing; run \`npm run package\` first`);
    process.exit(1);
  }
  // A cross build's pam_idv.so and C compiler (the launcher) must reach the package: without
  // them an aarch64 RPM carried the x86-64 module and launcher (every login through it failed).
  for (const rpm of buildRpms({ root, out, nodeArch, pamModule, cc })) step(`built ${rpm}`);
}

/** Checks before the (long) binary build, so a missing rpmbuild fails at once. */
export function checkRpmTools(args) {
  if (!RPM_OPTIONS.some((o) => args.has(o))) return;
  const missing = rpmbuildMissing();
  if (missing) {
    console.error(`package: ${missing}`);
    process.exit(1);
  }
}
