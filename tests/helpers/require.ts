/**
 * Tests that need a system package or root skip with the reason on a developer's machine, but
 * fail under IDV_REQUIRE_E2E=1 (set by .ci/run after it installed everything): in CI a skip
 * would hide a missing install step.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const REQUIRE_E2E = process.env.IDV_REQUIRE_E2E === '1';

export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const isRoot = process.getuid?.() === 0;

/**
 * Returns the reason a suite cannot run here, or null when it can. Throws under
 * IDV_REQUIRE_E2E=1 so that CI fails instead of skipping.
 */
export function missing(requirements: {
  commands?: string[];
  root?: boolean;
  /** Built files a suite needs, each with what to do when it is not there. */
  files?: { path: string; hint: string }[];
}): string | null {
  const reasons: string[] = [];
  for (const f of requirements.files ?? [])
    if (!existsSync(f.path)) reasons.push(`${f.path} missing (${f.hint})`);
  for (const c of requirements.commands ?? [])
    if (!hasCommand(c)) reasons.push(`${c} not installed`);
  if (requirements.root && !isRoot) reasons.push('needs root');
  if (reasons.length === 0) return null;
  const reason = reasons.join(', ');
  if (REQUIRE_E2E) throw new Error(`IDV_REQUIRE_E2E=1 but this suite cannot run: ${reason}`);
  return reason;
}
