import { describe, expect, it } from 'vitest';
import { LineEditor } from '../../pam-helper/line-editor.js';
import { CODE_RE as PROTOCOL_CODE_RE } from '../../protocol/messages.js';
import { CODE_RE, normalizeCode } from '../../pam-helper/code.js';

const type = (...chunks: string[]) => {
  const e = new LineEditor();
  let r = e.feed('');
  for (const c of chunks) {
    r = e.feed(c);
    if (r.kind !== 'more') return r;
  }
  return r;
};

describe('terminal line editing', () => {
  it('submits on Enter (CR or LF), in one chunk or many', () => {
    expect(type('123456\r')).toEqual({ kind: 'line', line: '123456' });
    expect(type('12', '34', '56', '\n')).toEqual({ kind: 'line', line: '123456' });
    expect(type('1234')).toEqual({ kind: 'more' });
  });

  it('handles Backspace (DEL and ^H) and Ctrl-U', () => {
    expect(type('1234577\x7f\x7f6\r')).toEqual({ kind: 'line', line: '123456' });
    expect(type('12\b\b\b\b123456\r')).toEqual({ kind: 'line', line: '123456' });
    expect(type('999\x15123456\r')).toEqual({ kind: 'line', line: '123456' });
  });

  it('cancels on Ctrl-C, and on Ctrl-D at an empty line', () => {
    expect(type('123\x03456\r')).toEqual({ kind: 'cancel' });
    expect(type('\x04')).toEqual({ kind: 'cancel' });
    expect(type('123456\x04')).toEqual({ kind: 'line', line: '123456' });
  });

  it('ignores arrow keys and other control characters', () => {
    expect(type('12\x1b[A34\x1bOB5\x1b[3~6\x07\r')).toEqual({ kind: 'line', line: '123456' });
  });

  it('keeps an overlong line overlong, so it is refused rather than cut to a code', () => {
    const r = type(`123456${'7'.repeat(200)}\r`);
    expect(r.kind).toBe('line');
    if (r.kind === 'line') expect(normalizeCode(r.line)).toBeNull();
  });
});

describe('code format', () => {
  it('is the protocol rule', () => {
    expect(CODE_RE.source).toBe(PROTOCOL_CODE_RE.source);
  });

  it('accepts 6-8 digits and recovery codes, forgiving spaces and case', () => {
    expect(normalizeCode('123456')).toBe('123456');
    expect(normalizeCode('123 456')).toBe('123456');
    expect(normalizeCode('12345678')).toBe('12345678');
    expect(normalizeCode('ABCD-EFGH-2345')).toBe('abcd-efgh-2345');
  });

  it('refuses anything else', () => {
    for (const s of ['', '12345', '123456789', 'abcdef', 'hunter2', '12345a', 'abcd-efgh-1234'])
      expect(normalizeCode(s)).toBeNull();
  });
});
