/**
 * What is forwarded: one record per login event and per admin action (the audit log), with a
 * stable id and the store's order, in the two shapes destinations take: JSON (webhooks) and an
 * RFC 5424 syslog message with structured data. `kind` tells them apart (`login`, `admin`).
 */
import { auditDetail, type AuditEntry } from '../store/audit.js';
import type { StoredEvent } from '../store/store.js';

/** The two streams a destination takes, each with its own cursor. */
export const STREAMS = ['login', 'audit'] as const;
export type ForwardStream = (typeof STREAMS)[number];

export interface ForwardRecord {
  /** Which stream it comes from, and its position there (the cursor moves past it). */
  stream: ForwardStream;
  seq: number;
  /** Stable across resends: receivers dedupe on it. */
  id: string;
  at: number;
  /** RFC 5424 severity: 6 info, 5 notice, 4 warning. */
  severity: 4 | 5 | 6;
  /** MSGID: what happened, one token. */
  msgId: string;
  /** Flat key/values for the structured data and the JSON. */
  fields: Record<string, string>;
  /** One human line. */
  text: string;
}

const SEVERITY: Record<StoredEvent['outcome'], ForwardRecord['severity']> = {
  skip: 6,
  prompt: 6,
  ok: 6,
  unlock: 5,
  invalid: 4,
  locked: 4,
  deny: 4,
  failopen: 4,
  /** A device's event log chain broke (server/sync/chain.ts). */
  tamper: 4,
};

export function loginRecord(e: StoredEvent): ForwardRecord {
  const fields: Record<string, string> = {
    kind: 'login',
    eventId: e.id,
    device: e.device,
    user: e.user,
    service: e.service,
    outcome: e.outcome,
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
    ...(e.rhost !== undefined ? { rhost: e.rhost } : {}),
    ...(e.tty !== undefined ? { tty: e.tty } : {}),
    ...(e.afterRevocation ? { afterRevocation: 'true' } : {}),
  };
  const from = e.rhost ? ` from ${e.rhost}` : '';
  const why = e.reason ? ` (${e.reason})` : '';
  const revoked = e.afterRevocation ? ' [reported by the device after its revocation]' : '';
  return {
    stream: 'login',
    seq: e.seq,
    id: `${e.device}/${e.id}`,
    at: e.at,
    // A revoked device's report is worth a look whatever its outcome.
    severity: e.afterRevocation ? 4 : SEVERITY[e.outcome],
    msgId: `login-${e.outcome}`,
    fields,
    text: `${e.service} login of ${e.user}${from} on device ${e.device}: ${e.outcome}${why}${revoked}`,
  };
}

/**
 * An admin action: who (actor, role), what (action, target, the request's fields without
 * secrets), from where, and the result (`ok` or the refusal's error code).
 */
export function auditRecord(e: AuditEntry): ForwardRecord {
  // The audit log already leaves secrets out; filtered again, as this leaves the building.
  const detail = auditDetail(e.detail);
  const fields: Record<string, string> = {
    kind: 'admin',
    actor: e.actor,
    role: e.role,
    source: e.source,
    action: e.action,
    target: e.target,
    result: e.result,
    ...(Object.keys(detail).length > 0 ? { detail: JSON.stringify(detail).slice(0, 1000) } : {}),
  };
  const on = e.target ? ` ${e.target}` : '';
  return {
    stream: 'audit',
    seq: e.seq,
    id: `audit/${e.seq}`,
    at: e.at,
    severity: e.result === 'ok' ? 5 : 4,
    // MSGID is at most 32 printable characters (RFC 5424).
    msgId: `admin-${e.action}`.replace(/[^!-~]/g, '_').slice(0, 32),
    fields,
    text: `${e.actor} (${e.role}) from ${e.source}: ${e.action}${on}: ${e.result}`,
  };
}

/** The JSON a webhook receives for a record. */
export function recordJson(r: ForwardRecord): Record<string, unknown> {
  return { stream: r.stream, seq: r.seq, id: r.id, at: new Date(r.at).toISOString(), ...r.fields };
}

/** RFC 5424 SD-PARAM value: `"`, `\` and `]` escaped. */
const sdValue = (v: string): string => v.replace(/["\\\]]/g, (c) => `\\${c}`);
/** Control characters cannot reach a receiver's log line. */
const printable = (v: string): string => v.replace(/[\p{Cc}]/gu, '?');

/**
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [idv@32473 k="v"...] MSG` (RFC 5424). 32473
 * is the private enterprise number RFC 5612 reserves for documentation: idv has none of its own.
 */
export function syslogLine(
  r: ForwardRecord,
  o: { facility: number; hostname: string; appName: string; procId: string },
): string {
  const sd = Object.entries(r.fields)
    .map(([k, v]) => ` ${k}="${sdValue(printable(v))}"`)
    .join('');
  return `<${o.facility * 8 + r.severity}>1 ${new Date(r.at).toISOString()} ${o.hostname} ${o.appName} ${o.procId} ${r.msgId} [idv@32473 seq="${r.seq}"${sd}] ${printable(r.text)}`;
}
