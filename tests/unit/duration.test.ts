import fc from 'fast-check';
import { expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../protocol/duration.js';

it('parses the durations admins type', () => {
  expect(parseDuration('900s')).toBe(900);
  expect(parseDuration('15m')).toBe(900);
  expect(parseDuration('12h')).toBe(43_200);
  expect(parseDuration('30d')).toBe(2_592_000);
  expect(parseDuration('2w')).toBe(1_209_600);
  expect(parseDuration('0')).toBe(0);
  for (const bad of [
    '',
    '15',
    '-5m',
    '1.5h',
    '15 m',
    '15M',
    'm',
    '1e3s',
    '0x10s',
    '10y',
    '9999999999s',
  ]) {
    expect(parseDuration(bad), bad).toBeNull();
  }
});

it('formats back to the shortest exact text', () => {
  expect(formatDuration(900)).toBe('15m');
  expect(formatDuration(0)).toBe('0');
  expect(formatDuration(2_592_000)).toBe('30d');
  expect(formatDuration(61)).toBe('61s');
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 10 ** 8 }),
      (n) => parseDuration(formatDuration(n)) === n,
    ),
  );
});
