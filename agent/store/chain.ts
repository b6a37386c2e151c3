/**
 * The agent's end of the tamper-evident event log (protocol/chain.ts): each event written to the
 * outbox gets the next chainSeq and the hash of the event before it; the head (seq, hash) is
 * written in the same transaction as the event (meta `chainHead`), so a crash keeps them together.
 */
import { z } from 'zod';
import { eventHash, START, type ChainHead } from '../../protocol/chain.js';
import type { LoginEvent } from '../../protocol/messages.js';

const headSchema = z.strictObject({
  seq: z.number().int().min(0),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});

export interface Link {
  event: LoginEvent;
  head: ChainHead;
  previous: ChainHead;
}

export class EventChain {
  #head: ChainHead;

  constructor(head: ChainHead) {
    this.#head = head;
  }

  /** The head stored in meta `chainHead`; START (nothing written yet) when there is none. */
  static fromMeta(value: unknown): EventChain {
    return new EventChain(value === undefined ? { ...START } : headSchema.parse(value));
  }

  get head(): Readonly<ChainHead> {
    return this.#head;
  }

  /**
   * Links `event` after the head and moves the head at once (synchronously, so events written
   * concurrently are linked in the order their writes are queued).
   */
  link(event: LoginEvent): Link {
    const previous = this.#head;
    const chained: LoginEvent = { ...event, chainSeq: previous.seq + 1, prevHash: previous.hash };
    const head = { seq: previous.seq + 1, hash: eventHash(chained) };
    this.#head = head;
    return { event: chained, head, previous };
  }

  /**
   * The write of `link` failed (rolled back): the head goes back, unless another event was linked
   * after it meanwhile; then that one's upload will show a gap, which is the truth.
   */
  unlink(link: Link): void {
    if (this.#head === link.head) this.#head = link.previous;
  }
}
