/**
 * pam_idv.so under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer, in the real
 * Linux-PAM, while a stand-in agent answers with bounded random and hostile replies (truncated,
 * oversized, wrong types, extra and duplicate keys, NUL bytes, invalid UTF-8, endless and
 * dripping lines, hang-ups mid-line): no crash, no hang, no sanitizer report, never a login the
 * helper's own reply check would refuse, and the valid controls do log in (so the success path
 * is exercised too). IDV_FUZZ_COUNT sets the number of random cases (default 1500); the harness
 * is tests/e2e/pam-module/fuzz.ts.
 */
import { describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { fuzzModule } from './pam-module/fuzz.js';
import { MODULE_REQUIREMENT } from './pam-module/paths.js';

const skip = missing({ commands: ['cc'], root: true, files: [MODULE_REQUIREMENT] });
const COUNT = Number(process.env.IDV_FUZZ_COUNT ?? 1500);

describe.skipIf(skip)(`pam_idv.so fuzzed under ASan${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it(`${COUNT} random replies and the slow ones through Linux-PAM: no crash, no leak, no bypass`, async () => {
    const report = await fuzzModule({ count: COUNT, seed: Date.now() % 100_000 });
    console.log(`pam_idv.so fuzz (Linux-PAM): ${JSON.stringify(report)}`);
    expect(report.examples).toEqual([]);
    // clean: no crash, hang, bypass, sanitizer report, protocol error or refused control.
    expect(report.clean).toBe(true);
    expect(report.inputs).toBeGreaterThanOrEqual(COUNT);
  }, 600_000);
});
