/**
 * What a program says it is (protocol/version.ts): `PROGRAM VERSION (COMMIT, node vX.Y.Z)` from
 * --version, and {version, commit, node} in /healthz and `idv-agent status --json`. The version
 * is package.json's, the node the one running the tests (every program here starts on it), and
 * the commit a real commit of this checkout (the build may predate the last commit), or
 * `unknown` only where there is no git.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const PACKAGE_VERSION = (
  JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

function git(args: string[]) {
  return spawnSync('git', args, { cwd: ROOT, stdio: 'ignore' }).status === 0;
}

export function expectCommitOfCheckout(commit: string): void {
  if (commit === 'unknown') {
    expect(git(['rev-parse', 'HEAD']), 'commit "unknown" in a git checkout').toBe(false);
    return;
  }
  expect(commit).toMatch(/^[0-9a-f]{7,40}$/);
  expect(git(['cat-file', '-e', `${commit}^{commit}`]), `${commit} is no commit here`).toBe(true);
}

/** `node` is the Node.js expected (process.version unless the program runs on another). */
export function expectVersionLine(program: string, text: string, node = process.version): void {
  const m = /^(\S+) (\S+) \((\S+), node (\S+)\)$/.exec(text.trim());
  expect(m, `not a version line: ${JSON.stringify(text)}`).not.toBeNull();
  const [, name, version, commit, runsOn] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
  ];
  expect({ name, version, node: runsOn }).toEqual({
    name: program,
    version: PACKAGE_VERSION,
    node,
  });
  expectCommitOfCheckout(commit);
}

export function expectBuildInfo(body: unknown, node = process.version): void {
  const b = body as { version?: unknown; commit?: unknown; node?: unknown };
  expect({ version: b.version, node: b.node }).toEqual({ version: PACKAGE_VERSION, node });
  expect(typeof b.commit).toBe('string');
  expectCommitOfCheckout(b.commit as string);
}
