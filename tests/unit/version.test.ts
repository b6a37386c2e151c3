import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { IDV_VERSION } from '../../protocol/version.js';

it('IDV_VERSION is package.json version (what --version prints)', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  expect(IDV_VERSION).toBe(pkg.version);
});
