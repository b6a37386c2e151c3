import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, ERROR_CODES, IdvError } from '../../protocol/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|\s*(yes|no)\s*\|\s*(.+?)\s*\|$/gm)].map(
    (m) => [
      m[1] as string,
      { status: Number(m[2]), retryable: m[3] === 'yes', message: m[4] as string },
    ],
  ),
);

describe('error catalog', () => {
  it('every code is documented in docs/errors.md with its status, retryability and message', () => {
    for (const code of ERROR_CODES) {
      const spec = ERRORS[code];
      expect(rows.get(code), `${code} missing from docs/errors.md`).toEqual({
        status: spec.status,
        retryable: spec.retryable,
        message: spec.message,
      });
    }
  });

  it('docs/errors.md lists no code the catalog lacks', () => {
    for (const code of rows.keys()) expect(ERROR_CODES, code).toContain(code);
  });

  it('codes are stable UPPER_SNAKE strings and errors carry them', () => {
    for (const code of ERROR_CODES) expect(code).toMatch(/^[A-Z][A-Z_]+$/);
    const e = new IdvError('USER_NOT_FOUND');
    expect(e.toBody()).toEqual({ code: 'USER_NOT_FOUND', message: ERRORS.USER_NOT_FOUND.message });
    expect(e.status).toBe(404);
    expect(new IdvError('TIMEOUT').retryable).toBe(true);
  });
});
