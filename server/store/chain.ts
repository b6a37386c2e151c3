/**
 * Per-device state of the tamper-evident event log (protocol/chain.ts): the head the server has
 * accepted, and the breaks it found. Written against Queryable with portable SQL, so every
 * backend runs the same statements.
 */
import type { Queryable } from './db.js';
import { START } from '../../protocol/chain.js';

export interface DeviceChain {
  /** chainSeq of the last event accepted; 0 before the first chained event. */
  seq: number;
  /** eventHash of that event (GENESIS before the first). */
  hash: string;
  /** Gaps and rewrites found so far. */
  breaks: number;
  lastBreak: { kind: 'gap' | 'rewrite'; seq: number; expected: number; at: number } | null;
}

export const CHAIN_MIGRATION = `
  CREATE TABLE device_chains (
    device_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    breaks INTEGER NOT NULL DEFAULT 0,
    last_break_kind TEXT,
    last_break_seq INTEGER,
    last_break_expected INTEGER,
    last_break_at BIGINT
  );
`;

interface ChainRow {
  seq: number;
  hash: string;
  breaks: number;
  last_break_kind: string | null;
  last_break_seq: number | null;
  last_break_expected: number | null;
  last_break_at: number | null;
}

export async function getChain(db: Queryable, deviceId: string): Promise<DeviceChain> {
  const row = await db.get<ChainRow>('SELECT * FROM device_chains WHERE device_id = ?', [deviceId]);
  if (!row) return { ...START, breaks: 0, lastBreak: null };
  return {
    seq: Number(row.seq),
    hash: row.hash,
    breaks: Number(row.breaks),
    lastBreak:
      row.last_break_kind === null
        ? null
        : {
            kind: row.last_break_kind === 'gap' ? 'gap' : 'rewrite',
            seq: Number(row.last_break_seq),
            expected: Number(row.last_break_expected),
            at: Number(row.last_break_at),
          },
  };
}

export async function saveChain(db: Queryable, deviceId: string, c: DeviceChain): Promise<void> {
  const b = c.lastBreak;
  await db.run(
    `INSERT INTO device_chains (device_id, seq, hash, breaks, last_break_kind, last_break_seq, last_break_expected, last_break_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
       breaks = excluded.breaks, last_break_kind = excluded.last_break_kind,
       last_break_seq = excluded.last_break_seq, last_break_expected = excluded.last_break_expected,
       last_break_at = excluded.last_break_at`,
    [
      deviceId,
      c.seq,
      c.hash,
      c.breaks,
      b?.kind ?? null,
      b?.seq ?? null,
      b?.expected ?? null,
      b?.at ?? null,
    ],
  );
}
