/** Devices (registered with a token: reg-tokens.ts), and what live connections learn about them. */
import { IdvError } from '../../protocol/errors.js';
import { deviceFactsSchema, type DeviceFacts } from '../../protocol/messages.js';
import { announce, parseJson, type StoreCore } from './core.js';
import type { Queryable } from './db.js';
import { takeTokenUse } from './reg-tokens.js';
import type { DeviceActivity, DeviceState, NewDevice } from './store.js';

interface DeviceRow {
  id: string;
  name: string;
  device_group: string;
  public_key: string;
  facts: string;
  agent_version: string;
  registered_at: number;
  revoked_at: number | null;
  last_seen_at: number | null;
  acked_revision: number;
}

function toDevice(row: DeviceRow): DeviceState {
  return {
    id: row.id,
    name: row.name,
    deviceGroup: row.device_group,
    publicKey: row.public_key,
    facts: deviceFactsSchema.parse(parseJson(row.facts)),
    agentVersion: row.agent_version,
    registeredAt: row.registered_at,
    revokedAt: row.revoked_at,
    lastSeenAt: row.last_seen_at,
    ackedRevision: row.acked_revision,
  };
}

async function deviceRow(q: Queryable, id: string): Promise<DeviceRow | undefined> {
  return q.get<DeviceRow>('SELECT * FROM devices WHERE id = ?', [id]);
}

/** One use of the token and the new device, atomically; registrations on one token queue up. */
export function registerDevice(
  core: StoreCore,
  tokenHash: string,
  device: NewDevice,
  at: number,
): Promise<DeviceState> {
  return core.db.transaction(
    async (tx) => {
      const deviceGroup = await takeTokenUse(tx, tokenHash, at);
      const sameKey = await tx.get('SELECT id FROM devices WHERE public_key = ?', [
        device.publicKey,
      ]);
      if (sameKey)
        throw new IdvError('VALIDATION_FAILED', 'publicKey: this key is already registered');
      await tx.run(
        `INSERT INTO devices (id, name, device_group, public_key, facts, agent_version, registered_at, helpdesk_sealed)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          device.id,
          device.name,
          deviceGroup,
          device.publicKey,
          JSON.stringify(device.facts),
          device.agentVersion,
          at,
          device.helpdeskSecret
            ? core.box.seal(device.helpdeskSecret.toString('base64url'), helpdeskContext(device.id))
            : null,
        ],
      );
      return toDevice((await deviceRow(tx, device.id)) as DeviceRow);
    },
    { serialize: ['reg_tokens'] },
  );
}

const helpdeskContext = (id: string): string => `helpdesk:${id}`;

/**
 * The device's helpdesk secret (issue 15), opened; null for a device registered before helpdesk
 * codes. Read only by the helpdesk-code route: never part of DeviceState, so never shown.
 */
export async function getHelpdeskSecret(core: StoreCore, id: string): Promise<Buffer | null> {
  const row = await core.db.get<{ helpdesk_sealed: string | null }>(
    'SELECT helpdesk_sealed FROM devices WHERE id = ?',
    [id],
  );
  if (!row?.helpdesk_sealed) return null;
  return Buffer.from(core.box.open(row.helpdesk_sealed, helpdeskContext(id)), 'base64url');
}

/**
 * The helpdesk secret to hand to the agent of a device registered before helpdesk codes (issue
 * 26): the one already offered and not confirmed yet, or `fresh`, kept sealed as pending. Null
 * when the device has its secret already, is revoked or unknown: it gets none.
 */
export async function offerHelpdeskSecret(
  core: StoreCore,
  id: string,
  fresh: Buffer,
): Promise<Buffer | null> {
  // Conditional, so that two replicas (or two connections) offering at once keep one secret.
  await core.db.run(
    `UPDATE devices SET helpdesk_pending = ?
       WHERE id = ? AND helpdesk_sealed IS NULL AND helpdesk_pending IS NULL AND revoked_at IS NULL`,
    [core.box.seal(fresh.toString('base64url'), helpdeskContext(id)), id],
  );
  const row = await core.db.get<{ helpdesk_pending: string | null }>(
    'SELECT helpdesk_pending FROM devices WHERE id = ? AND helpdesk_sealed IS NULL AND revoked_at IS NULL',
    [id],
  );
  if (!row?.helpdesk_pending) return null;
  return Buffer.from(core.box.open(row.helpdesk_pending, helpdeskContext(id)), 'base64url');
}

/**
 * The agent keeps the offered secret: it becomes the device's (helpdesk codes may be issued for
 * it from now on). False when nothing was pending (confirmed before, revoked meanwhile).
 */
export async function confirmHelpdeskSecret(core: StoreCore, id: string): Promise<boolean> {
  const { changes } = await core.db.run(
    `UPDATE devices SET helpdesk_sealed = helpdesk_pending, helpdesk_pending = NULL
       WHERE id = ? AND helpdesk_sealed IS NULL AND helpdesk_pending IS NOT NULL AND revoked_at IS NULL`,
    [id],
  );
  return changes > 0;
}

export async function getDevice(core: StoreCore, id: string): Promise<DeviceState | null> {
  const row = await deviceRow(core.db, id);
  return row ? toDevice(row) : null;
}

/** Rows per statement (up to five parameters each): well under both backends' limits. */
const ROWS_PER_STATEMENT = 500;

/** The devices of `ids` that exist, by id: one statement per chunk (hellos arriving at once). */
export async function getDevices(
  core: StoreCore,
  ids: readonly string[],
): Promise<Map<string, DeviceState>> {
  const out = new Map<string, DeviceState>();
  for (let i = 0; i < ids.length; i += ROWS_PER_STATEMENT) {
    const chunk = ids.slice(i, i + ROWS_PER_STATEMENT);
    const rows = await core.db.all<DeviceRow>(
      `SELECT * FROM devices WHERE id IN (${chunk.map(() => '?').join(', ')})`,
      chunk,
    );
    for (const row of rows) out.set(row.id, toDevice(row));
  }
  return out;
}

export async function listDevices(core: StoreCore): Promise<DeviceState[]> {
  const rows = await core.db.all<DeviceRow>('SELECT * FROM devices ORDER BY registered_at, id');
  return rows.map(toDevice);
}

export function revokeDevice(core: StoreCore, id: string, at: number): Promise<DeviceState> {
  return core.db.transaction(async (tx) => {
    const row = await deviceRow(tx, id);
    if (!row) throw new IdvError('DEVICE_NOT_FOUND', `no device ${id}`);
    if (row.revoked_at === null)
      await tx.run('UPDATE devices SET revoked_at = ? WHERE id = ?', [at, id]);
    await announce(core, tx, { kind: 'revoked', device: id });
    return toDevice((await deviceRow(tx, id)) as DeviceRow);
  });
}

export async function touchDevice(
  core: StoreCore,
  id: string,
  seen: { at: number; facts?: DeviceFacts; agentVersion?: string },
): Promise<void> {
  await core.db.run(
    `UPDATE devices SET last_seen_at = ?, facts = COALESCE(?, facts), agent_version = COALESCE(?, agent_version)
       WHERE id = ?`,
    [seen.at, seen.facts ? JSON.stringify(seen.facts) : null, seen.agentVersion ?? null, id],
  );
}

export async function recordDeviceActivity(
  core: StoreCore,
  updates: readonly DeviceActivity[],
): Promise<void> {
  if (updates.length === 0) return;
  await core.db.transaction(async (tx) => {
    // One statement per chunk (thousands of acks after a push), not a round trip per device.
    for (let i = 0; i < updates.length; i += ROWS_PER_STATEMENT) {
      const chunk = updates.slice(i, i + ROWS_PER_STATEMENT);
      const row =
        '(CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT))';
      await tx.run(
        `UPDATE devices SET
           last_seen_at = COALESCE(u.column2, devices.last_seen_at),
           acked_revision = COALESCE(u.column3, devices.acked_revision),
           facts = COALESCE(u.column4, devices.facts),
           agent_version = COALESCE(u.column5, devices.agent_version)
         FROM (VALUES ${chunk.map(() => row).join(', ')}) AS u
         WHERE devices.id = u.column1`,
        chunk.flatMap((u) => [
          u.id,
          u.seenAt ?? null,
          u.ackedRevision ?? null,
          u.facts ? JSON.stringify(u.facts) : null,
          u.agentVersion ?? null,
        ]),
      );
    }
  });
}

export async function setAckedRevision(
  core: StoreCore,
  id: string,
  revision: number,
): Promise<void> {
  await core.db.run('UPDATE devices SET acked_revision = ? WHERE id = ?', [revision, id]);
}
