/** A stored login event as its row, and back (shared by the core store and the forwarding queue). */
import type { LoginEvent } from '../../protocol/messages.js';
import type { StoredEvent } from './store.js';

export interface EventRow {
  seq: number;
  id: string;
  device_id: string;
  at: number;
  user: string;
  service: string;
  outcome: string;
  rhost: string | null;
  tty: string | null;
  reason: string | null;
  recovery_code_id: string | null;
  received_at: number;
  after_revocation: number;
}

export function eventFromRow(r: EventRow): StoredEvent {
  return {
    id: r.id,
    at: r.at,
    user: r.user,
    service: r.service,
    outcome: r.outcome as LoginEvent['outcome'],
    ...(r.rhost !== null ? { rhost: r.rhost } : {}),
    ...(r.tty !== null ? { tty: r.tty } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.recovery_code_id !== null ? { recoveryCodeId: r.recovery_code_id } : {}),
    device: r.device_id,
    receivedAt: r.received_at,
    seq: r.seq,
    ...(r.after_revocation ? { afterRevocation: true as const } : {}),
  };
}
