// Property-based fuzzing of what the server reads of an agent's sync protocol range from the
// upgrade request (protocol/version.ts offeredRange): the `idv-protocol` header, else the URL's
// `protocol` query, else version 1. Whatever arrives it never throws; it accepts exactly the
// canonical forms of a range within 1-65535 (the oracle), the header wins over the query, and a
// malformed or repeated value in either is refused, saying which, with at most 20 characters of
// it for the log.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatRange,
  LEGACY_OFFER,
  offeredRange,
  type Offer,
  type VersionRange,
} from '../../protocol/version.js';

const RUNS = { numRuns: 2000 };

const range: fc.Arbitrary<VersionRange> = fc
  .tuple(fc.integer({ min: 1, max: 65_535 }), fc.integer({ min: 1, max: 65_535 }))
  .map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) }));

/** Both ways a range is written: "2" or "2-2", "1-2". */
const written = (r: VersionRange): string[] => [formatRange(r), `${r.min}-${r.max}`];

/** Text near the valid forms: digits, dashes, signs, spaces, percent escapes, big numbers. */
const nearRange: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^[0-9 +\-.,%&=]{0,12}$/),
  fc.tuple(fc.nat({ max: 200_000 }), fc.nat({ max: 200_000 })).map(([a, b]) => `${a}-${b}`),
  fc.nat({ max: 200_000 }).map(String),
  range.map((r) => `0${r.min}-${r.max}`),
  range.map((r) => `${r.max + 1}-${r.min}`),
  fc.string({ unit: 'binary', maxLength: 30 }),
);

const header: fc.Arbitrary<string | string[] | undefined> = fc.oneof(
  fc.constant(undefined),
  nearRange,
  range.map(formatRange),
  fc.array(nearRange, { minLength: 2, maxLength: 3 }),
);

/** A request target: the agent path with any query, or anything at all. */
const url: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc
    .array(
      fc.oneof(
        nearRange.map((v) => `protocol=${encodeURIComponent(v)}`),
        nearRange.map((v) => `protocol=${v}`),
        fc.string({ maxLength: 10 }),
      ),
      { maxLength: 3 },
    )
    .map((parts) => `/v1/agent?${parts.join('&')}`),
);

/** The oracle of one value: good iff its trimmed text is a written form of a range it gives. */
function accepts(value: string, offer: Offer): boolean {
  return offer.ok && offer.said && written(offer.range).includes(value.trim());
}

describe('offeredRange (the range an agent says in its upgrade request)', () => {
  it('never throws; a result is a range within 1-65535 or a refusal naming the header or the query', () => {
    fc.assert(
      fc.property(header, url, (h, u) => {
        const offer = offeredRange(h, u);
        if (offer.ok) {
          const { min, max } = offer.range;
          expect(Number.isInteger(min) && Number.isInteger(max)).toBe(true);
          expect(1 <= min && min <= max && max <= 65_535).toBe(true);
          if (!offer.said) expect(offer).toBe(LEGACY_OFFER);
        } else {
          expect(offer.message).toMatch(
            /^(malformed (idv-protocol header|protocol query)|.* given twice)/,
          );
          expect(offer.raw.length).toBeLessThanOrEqual(20);
        }
      }),
      RUNS,
    );
  });

  it('a header alone is accepted exactly when it is a written form of a range (the oracle)', () => {
    fc.assert(
      fc.property(nearRange, (h) => {
        const offer = offeredRange(h, '/v1/agent');
        const good = /^([1-9][0-9]*)(?:-([1-9][0-9]*))?$/.exec(h.trim());
        const min = good ? Number(good[1]) : 0;
        const max = good ? Number(good[2] ?? good[1]) : 0;
        const expected = good !== null && min <= max && max <= 65_535;
        expect(offer.ok).toBe(expected);
        if (offer.ok) expect(accepts(h, offer)).toBe(true);
        else expect(offer.message).toBe('malformed idv-protocol header (MIN-MAX expected)');
      }),
      RUNS,
    );
  });

  it('every range survives both ways of saying it, alone or among other query parameters', () => {
    fc.assert(
      fc.property(range, fc.string({ maxLength: 8 }), (r, other) => {
        for (const text of written(r)) {
          expect(offeredRange(text, undefined)).toEqual({ ok: true, range: r, said: true });
          const q = `protocol=${encodeURIComponent(text)}`;
          for (const target of [
            `/v1/agent?${q}`,
            `/a/v1/agent?x=${encodeURIComponent(other)}&${q}#f`,
          ])
            expect(offeredRange(undefined, target.replace(/#f$/, ''))).toEqual({
              ok: true,
              range: r,
              said: true,
            });
        }
      }),
      RUNS,
    );
  });

  it('the header wins over a good query; a bad or repeated value in either refuses', () => {
    fc.assert(
      fc.property(range, range, nearRange, (h, q, bad) => {
        const good = `/v1/agent?protocol=${formatRange(q)}`;
        expect(offeredRange(formatRange(h), good)).toEqual({ ok: true, range: h, said: true });
        if (offeredRange(bad, undefined).ok) return;
        const viaQuery = offeredRange(
          formatRange(h),
          `/v1/agent?protocol=${encodeURIComponent(bad)}`,
        );
        expect(viaQuery).toMatchObject({
          ok: false,
          message: 'malformed protocol query (MIN-MAX expected)',
        });
        expect(offeredRange(bad, good)).toMatchObject({
          ok: false,
          message: 'malformed idv-protocol header (MIN-MAX expected)',
        });
        expect(offeredRange([formatRange(h), formatRange(h)], good)).toMatchObject({
          ok: false,
          message: 'idv-protocol header given twice',
        });
        expect(offeredRange(undefined, `${good}&protocol=${formatRange(q)}`)).toMatchObject({
          ok: false,
          message: 'protocol query given twice',
        });
      }),
      RUNS,
    );
  });

  it('neither header nor query is an agent from before ranges (version 1, said: false)', () => {
    for (const u of [undefined, '', '/v1/agent', '/v1/agent?', '/v1/agent?protocols=2&x=1'])
      expect(offeredRange(undefined, u)).toBe(LEGACY_OFFER);
    expect(LEGACY_OFFER).toMatchObject({ ok: true, range: { min: 1, max: 1 }, said: false });
  });
});
