/**
 * "Committed" notices: what the store tells the server after a commit, so that pushes, device
 * revocations, the events feed and the forwarding of login events and admin actions follow the
 * database rather than the process that made the change. In one process (SQLite) the store emits them right after COMMIT; with PostgreSQL every
 * such transaction also sends one `pg_notify` (store/listen-pg.ts), so a change made through any
 * replica reaches the agents and followers of all of them.
 *
 * A notice is a hint, never the data: consumers read the change log or the events table from
 * where they were. So a notice may come twice (our own, echoed by LISTEN) or be lost (a LISTEN
 * connection that dropped): `resync` after a reconnect makes every consumer catch up.
 */
import { z } from 'zod';

export const NOTICE_CHANNEL = 'idv_notices';

const noticeSchema = z.discriminatedUnion('kind', [
  /** Revision N committed (and everything before it). */
  z.strictObject({ kind: z.literal('revision'), revision: z.number().int().nonnegative() }),
  /** Login events up to seq M committed. */
  z.strictObject({ kind: z.literal('events'), seq: z.number().int().nonnegative() }),
  /** Audit log entries (admin actions) up to seq M committed. */
  z.strictObject({ kind: z.literal('audit'), seq: z.number().int().nonnegative() }),
  /** A device was revoked: close its connection. */
  z.strictObject({ kind: z.literal('revoked'), device: z.string().min(1).max(64) }),
  /** Notices may have been missed: catch up on everything. */
  z.strictObject({ kind: z.literal('resync') }),
]);

export type Notice = z.infer<typeof noticeSchema>;

/** The NOTIFY payload (well under PostgreSQL's 8000-byte limit: at most ~100 bytes). */
export function encodeNotice(n: Notice): string {
  return JSON.stringify(n);
}

/** A payload read off the channel, or null when it is not one of ours. */
export function decodeNotice(text: string): Notice | null {
  try {
    const r = noticeSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

export type NoticeListener = (n: Notice) => void;

/** Fan-out of notices to the server's consumers; drops revisions and seqs seen already. */
export class Notices {
  private readonly listeners = new Set<NoticeListener>();
  private revision = -1;
  private seq = -1;
  private auditSeq = -1;

  subscribe(listener: NoticeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(n: Notice): void {
    if (n.kind === 'revision') {
      if (n.revision <= this.revision) return;
      this.revision = n.revision;
    } else if (n.kind === 'events') {
      if (n.seq <= this.seq) return;
      this.seq = n.seq;
    } else if (n.kind === 'audit') {
      if (n.seq <= this.auditSeq) return;
      this.auditSeq = n.seq;
    }
    for (const l of this.listeners) {
      try {
        l(n);
      } catch {
        // A consumer's failure is its own; the others still hear the notice.
      }
    }
  }
}
