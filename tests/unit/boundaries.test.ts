// The lint rule that keeps the architecture's boundaries: each forbidden import is reported,
// each allowed one is not. Runs the project's real ESLint config on files placed in each folder.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

async function boundaryErrors(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: file });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
}

describe('import boundaries', () => {
  it.each([
    ['pam-helper/x.ts', "import { a } from '../server/config.js';"],
    ['pam-helper/x.ts', "import { a } from '../agent/config.js';"],
    ['agent/policy/x.ts', "import { a } from '../../server/store/store.js';"],
    ['agent/x.ts', "import { a } from '../pam-helper/login.js';"],
    ['server/http/x.ts', "import { a } from '../../agent/store/cache.js';"],
    ['protocol/x.ts', "import { a } from '../server/config.js';"],
  ])('%s may not %s', async (file, source) => {
    expect(await boundaryErrors(file, `${source}\nexport const b = a;\n`)).toHaveLength(1);
  });

  it.each([
    ['pam-helper/x.ts', "import { a } from '../protocol/errors.js';"],
    ['agent/localapi/x.ts', "import { a } from './server.js';"],
    ['agent/x.ts', "import { a } from '../protocol/messages.js';"],
    ['server/x.ts', "import { a } from './store/store.js';"],
  ])('%s may %s', async (file, source) => {
    expect(await boundaryErrors(file, `${source}\nexport const b = a;\n`)).toEqual([]);
  });
});
