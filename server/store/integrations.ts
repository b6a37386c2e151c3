/**
 * What the integrations keep in the store (directory sync, the enrollment-mail queue, the
 * event-forwarding cursors), behind its own small interface so a backend implements it apart
 * from the core store. Written in portable SQL (server/store/sqlite-integrations.ts).
 */
import type { StoredEvent } from './store.js';

/** A user that directory sync manages (created, adopted or last seen in the directory). */
export interface DirectoryLink {
  name: string;
  dn: string;
  /** The sync suspended it (gone or disabled): only then may a later sync resume it. */
  suspendedBySync: boolean;
  syncedAt: number;
}

export type MailKind = 'enroll' | 'reset';

export interface NewMail {
  user: string;
  address: string;
  kind: MailKind;
  /** The one-time enrollment link: sealed at rest, never logged. */
  link: string;
  /** When the link stops working; the mail is dropped then. */
  expiresAt: number;
}

export interface QueuedMail extends NewMail {
  id: string;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: number;
}

export interface IntegrationStore {
  directoryLinks(): Promise<DirectoryLink[]>;
  setDirectoryLink(link: DirectoryLink): Promise<void>;
  removeDirectoryLink(name: string): Promise<void>;

  /** A small named value (e.g. the directory's last user count); null when never set. */
  getState(key: string): Promise<string | null>;
  setState(key: string, value: string, at: number): Promise<void>;

  /** The address enrollment mail goes to (from `--email` or the directory's mail attribute). */
  getUserEmail(user: string): Promise<string | null>;
  setUserEmail(user: string, address: string, at: number): Promise<void>;
  /** Every known address: user → address. */
  userEmails(): Promise<Record<string, string>>;

  /** Queues a mail; an undelivered older mail to the same user (an old link) is dropped. */
  enqueueMail(mail: NewMail, at: number): Promise<QueuedMail>;
  /** Mail whose next attempt is due, oldest first. */
  dueMail(now: number, limit: number): Promise<QueuedMail[]>;
  getMail(id: string): Promise<QueuedMail | null>;
  /** Delivered or given up: the row (and the sealed link) is deleted. */
  deleteMail(id: string): Promise<void>;
  mailFailed(id: string, error: string, nextAttemptAt: number): Promise<void>;
  /** Undelivered mail, oldest first (links left out). */
  mailQueue(): Promise<Omit<QueuedMail, 'link'>[]>;

  /** The last event seq a destination has taken; null before its first delivery. */
  getForwardCursor(destination: string): Promise<number | null>;
  setForwardCursor(destination: string, seq: number, at: number): Promise<void>;
  /** The newest stored event seq (0 when none). */
  lastEventSeq(): Promise<number>;
  /** Stored events after `seq`, oldest first (the forwarding queue). */
  eventsAfter(seq: number, limit: number): Promise<StoredEvent[]>;
}
