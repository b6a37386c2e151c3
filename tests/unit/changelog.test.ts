// CHANGELOG.md lists, for the release being built, the versions the parts speak and store; this
// keeps its table equal to the code (a migration or a protocol bump without a changelog line fails).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS as AGENT_MIGRATIONS } from '../../agent/store/migrations.js';
import { IDV_VERSION, PROTOCOL_VERSION, SYNC_PROTOCOL } from '../../protocol/version.js';
import { MIGRATIONS as SERVER_MIGRATIONS } from '../../server/store/migrations.js';

const text = readFileSync(resolve(import.meta.dirname, '../../CHANGELOG.md'), 'utf8');

/** The release's column of the versions table under its `## VERSION` heading. */
function row(label: string): string {
  const section = text.split(/^## /m).find((s) => s.startsWith(`${IDV_VERSION} `));
  if (!section) throw new Error(`CHANGELOG.md has no "## ${IDV_VERSION}" section`);
  const cells = section
    .split('\n')
    .map((l) => l.split('|').map((c) => c.trim()))
    .find((c) => c[0] === '' && c[1] === label);
  if (!cells) throw new Error(`no "${label}" row under ${IDV_VERSION}`);
  return cells.at(-2)!;
}

describe('CHANGELOG.md', () => {
  it('has the current release first', () => {
    expect(/^## (\S+)/m.exec(text)?.[1]).toBe(IDV_VERSION);
  });

  it('lists the protocol and schema versions this build has', () => {
    expect(row('sync protocol')).toBe(`${SYNC_PROTOCOL.min}–${SYNC_PROTOCOL.max}`);
    expect(row('local protocol')).toBe(String(PROTOCOL_VERSION));
    expect(row('server schema')).toBe(String(SERVER_MIGRATIONS.length));
    expect(row('agent cache schema')).toBe(String(AGENT_MIGRATIONS.length));
    expect(row('Node.js (embedded in the packages)')).toBe(
      `${process.versions.node.split('.')[0]} LTS`,
    );
  });
});
