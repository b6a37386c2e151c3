/**
 * Keystrokes of a terminal in raw mode (no echo, no line discipline) turned into one line, the
 * way a password prompt behaves: Enter submits, Backspace deletes, Ctrl-U clears, Ctrl-C
 * cancels, Ctrl-D cancels on an empty line and submits otherwise; escape sequences (arrows) and
 * other control characters are ignored. Pure, so it is tested without a terminal.
 */
import { MAX_INPUT } from './code.js';

export type EditResult =
  | { readonly kind: 'more' }
  | { readonly kind: 'line'; readonly line: string }
  | { readonly kind: 'cancel' };

const MORE: EditResult = Object.freeze({ kind: 'more' });

export class LineEditor {
  private chars: string[] = [];
  private escape: 'none' | 'esc' | 'csi' = 'none';

  /** Feeds what the terminal sent; returns the first outcome reached, if any. */
  feed(input: string): EditResult {
    for (const ch of input) {
      if (this.escape === 'esc') {
        this.escape = ch === '[' || ch === 'O' ? 'csi' : 'none';
        continue;
      }
      if (this.escape === 'csi') {
        // A CSI sequence ends with a byte in @-~.
        if (ch >= '@' && ch <= '~') this.escape = 'none';
        continue;
      }
      switch (ch) {
        case '\r':
        case '\n':
          return this.submit();
        case '\x7f':
        case '\b':
          this.chars.pop();
          break;
        case '\x15':
          this.chars = [];
          break;
        case '\x03':
          this.chars = [];
          return { kind: 'cancel' };
        case '\x04':
          if (this.chars.length === 0) return { kind: 'cancel' };
          return this.submit();
        case '\x1b':
          this.escape = 'esc';
          break;
        default:
          // Keep one character past the limit so that an overlong line is refused, not cut.
          if (ch >= ' ' && ch !== '\x7f' && this.chars.length <= MAX_INPUT) this.chars.push(ch);
      }
    }
    return MORE;
  }

  private submit(): EditResult {
    const line = this.chars.join('');
    this.chars = [];
    return { kind: 'line', line };
  }
}
