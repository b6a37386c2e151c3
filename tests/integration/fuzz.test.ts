/**
 * The bounded run of the entry-point fuzzer (tests/fuzz/run.ts) that `npm test` and CI do: every
 * target, DEFAULT_COUNT inputs each, against the real server, agent, helper, loaders and the C
 * module's parser. `npm run fuzz -- --full` runs 100,000 per target (docs/fuzz.md). A failure
 * prints the table, the failing inputs and the seed to replay them with `--seed`.
 */
import { expect, it } from 'vitest';
import { DEFAULT_COUNT, fuzz } from '../fuzz/run.js';
import { clean, formatTable } from '../fuzz/runner.js';

it(`every entry point takes ${DEFAULT_COUNT} fuzzed inputs: no crash, hang, state change or bypass`, async () => {
  const seed = Number(process.env.IDV_FUZZ_SEED ?? Date.now() % 2 ** 31);
  const reports = await fuzz({ count: DEFAULT_COUNT, seed });
  const table = `${formatTable(reports)}\n\nseed ${seed}`;
  expect(clean(reports), table).toBe(true);
  // Every target ran (a missing C compiler skips only the C parser, and CI has one).
  for (const r of reports)
    expect(
      r.skipped === undefined || !process.env.IDV_REQUIRE_E2E,
      `${r.target}: ${r.skipped}`,
    ).toBe(true);
  for (const r of reports) if (!r.skipped) expect(r.inputs, r.target).toBe(DEFAULT_COUNT);
  // The state comparison really happened on every target (not every batch held an accepted change).
  for (const r of reports) if (!r.skipped) expect(r.stateChecked, r.target).toBeGreaterThan(0);
}, 600_000);
