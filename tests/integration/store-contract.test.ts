/**
 * The Store contract, on SQLite and on a real PostgreSQL: every method's behaviour, atomic
 * refusals, the change log, sealed secrets. The races are in store-races.test.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GRACE_ENDED } from '../../protocol/messages.js';
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  recoveryCodeId,
} from '../../protocol/recovery.js';
import { hashToken } from '../../server/store/crypto.js';
import { storeBackends } from '../helpers/stores.js';
import { cursorName } from '../../server/forward/forwarder.js';

const backends = await storeBackends();
const facts = { hostname: 'h', os: 'linux', osVersion: '12', arch: 'x64' };
const totp = {
  secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
  algorithm: 'SHA1' as const,
  digits: 6 as const,
  period: 30,
};
/** A real ms timestamp (past 2^31: PostgreSQL's INTEGER would overflow). */
const T = 1_800_000_000_000;

function device(key = randomBytes(32).toString('base64url')) {
  return { id: randomUUID(), name: 'd', publicKey: key, facts, agentVersion: '1' };
}

describe.each(backends)('Store on $name', (backend) => {
  const test = it.skipIf(backend.skip !== null);
  if (backend.skip) it.skip(`postgres: ${backend.skip}`, () => undefined);

  test('keeps a registration token use when the registration fails', async () => {
    const { store } = await backend.fresh();
    await store.addRegistrationToken(
      hashToken('t'.repeat(43)),
      { deviceGroup: 'g', uses: 1, expiresAt: T + 60_000 },
      T,
    );
    const dev = device('A'.repeat(43));
    await expect(store.registerDevice(hashToken('x'.repeat(43)), dev, T)).rejects.toMatchObject({
      code: 'TOKEN_INVALID',
    });
    await store.addRegistrationToken(
      hashToken('u'.repeat(43)),
      { deviceGroup: 'g', uses: 2, expiresAt: T + 60_000 },
      T,
    );
    const first = await store.registerDevice(hashToken('u'.repeat(43)), dev, T);
    expect(first).toMatchObject({ deviceGroup: 'g', registeredAt: T, revokedAt: null });
    // Same key again: refused, and the token's second use is still there.
    await expect(
      store.registerDevice(hashToken('u'.repeat(43)), { ...dev, id: randomUUID() }, T),
    ).rejects.toThrow(/already registered/);
    await store.registerDevice(hashToken('u'.repeat(43)), device('B'.repeat(43)), T);
    await expect(
      store.registerDevice(hashToken('u'.repeat(43)), device('C'.repeat(43)), T),
    ).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await expect(
      store.registerDevice(hashToken('t'.repeat(43)), device('D'.repeat(43)), T + 120_000),
    ).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    expect((await store.listDevices()).map((d) => d.publicKey).sort()).toEqual([
      'A'.repeat(43),
      'B'.repeat(43),
    ]);
  });

  test('registration tokens: listed without the token, used up, revoked, pruned', async () => {
    const { store } = await backend.fresh();
    const made = await store.addRegistrationToken(
      hashToken('a'.repeat(43)),
      { deviceGroup: 'web', uses: 2, expiresAt: T + 60_000, createdBy: 'admin:ada' },
      T,
    );
    expect(made).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{16}$/),
      deviceGroup: 'web',
      uses: 2,
      usesLeft: 2,
      expiresAt: T + 60_000,
      createdAt: T,
      createdBy: 'admin:ada',
      revokedAt: null,
    });
    const other = await store.addRegistrationToken(
      hashToken('b'.repeat(43)),
      { deviceGroup: 'db', uses: 5, expiresAt: T + 60_000 },
      T + 1,
    );
    // Newest first; nothing in a listing is the token or its hash.
    const listed = await store.listRegistrationTokens();
    expect(listed.map((t) => t.id)).toEqual([other.id, made.id]);
    expect(JSON.stringify(listed)).not.toContain(hashToken('a'.repeat(43)));
    expect(other.createdBy).toBe('');
    // Used up: it stays listed with no use left, and refuses the next registration.
    await store.registerDevice(hashToken('a'.repeat(43)), device(), T);
    await store.registerDevice(hashToken('a'.repeat(43)), device(), T);
    await expect(
      store.registerDevice(hashToken('a'.repeat(43)), device(), T),
    ).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    expect((await store.listRegistrationTokens()).find((t) => t.id === made.id)).toMatchObject({
      usesLeft: 0,
      uses: 2,
    });
    // Revoked: refused with uses left, and nothing else about it changes; again is a no-op.
    const revoked = await store.revokeRegistrationToken(other.id, T + 5);
    expect(revoked).toEqual({ ...other, revokedAt: T + 5 });
    expect(await store.revokeRegistrationToken(other.id, T + 9)).toEqual(revoked);
    await expect(
      store.registerDevice(hashToken('b'.repeat(43)), device(), T + 6),
    ).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    expect((await store.listDevices()).length).toBe(2);
    await expect(store.revokeRegistrationToken('0'.repeat(16), T)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // 30 days past their expiry, the next creation prunes them.
    const later = await store.addRegistrationToken(
      hashToken('c'.repeat(43)),
      { deviceGroup: 'g', uses: 1, expiresAt: T + 40 * 86_400_000 },
      T + 31 * 86_400_000,
    );
    expect((await store.listRegistrationTokens()).map((t) => t.id)).toEqual([later.id]);
  });

  test('logs one change per revision and says tooFar beyond the log or the delta limit', async () => {
    const { store } = await backend.fresh({ changeLogRetention: 100 });
    for (let i = 0; i < 250; i++) await store.addUser(`u${i}`, ['g'], T + i);
    expect(await store.revision()).toBe(250);
    const recent = await store.changesSince(245, 1000, ['default']);
    expect(recent.kind === 'changes' && recent.changes.map((c) => c.subject)).toEqual([
      'u245',
      'u246',
      'u247',
      'u248',
      'u249',
    ]);
    expect((await store.changesSince(1, 1000, [])).kind).toBe('tooFar'); // pruned
    expect((await store.changesSince(200, 10, [])).kind).toBe('tooFar'); // too many
    expect((await store.changesSince(251, 1000, [])).kind).toBe('tooFar'); // from the future
    const none = await store.changesSince(250, 1000, ['default']);
    expect(none.kind === 'changes' && none.changes).toEqual([]);
  });

  test('rolls back a refused change entirely', async () => {
    const { store } = await backend.fresh();
    const revisions: number[] = [];
    store.notices.subscribe((n) => n.kind === 'revision' && revisions.push(n.revision));
    await store.addUser('a', [], T);
    await expect(store.addUser('a', ['x'], T)).rejects.toMatchObject({ code: 'USER_EXISTS' });
    await expect(
      store.updateUser('a', { kind: 'activate', expectedSecret: 'X' }, T),
    ).rejects.toMatchObject({ code: 'ENROLLMENT_PENDING' });
    await expect(store.removeUser('nobody', T)).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
    expect(await store.revision()).toBe(1);
    expect(revisions).toEqual([1]);
    expect((await store.getUser('a'))?.groups).toEqual([]);
  });

  test('seals TOTP secrets: readable through the store, never in a row; another key is refused', async () => {
    const { store, replica } = await backend.fresh();
    await store.addUser('a', [], T);
    await store.updateUser(
      'a',
      { kind: 'pending', totp, tokenHash: hashToken('e'.repeat(43)), tokenExpiresAt: T + 10_000 },
      T,
    );
    expect(await store.getPendingTotp('a')).toEqual(totp);
    await store.updateUser('a', { kind: 'activate', expectedSecret: totp.secret }, T + 1);
    expect(await store.getUser('a')).toMatchObject({ totp, pending: false, enrolledAt: T + 1 });
    const rows = await store.db.all('SELECT * FROM users');
    expect(JSON.stringify(rows)).not.toContain(totp.secret);
    if (backend.name === 'postgres') {
      const other = await replica({ key: randomBytes(32) });
      await expect(other.getUser('a')).rejects.toThrow(/wrong master key/);
    }
  });

  test('seals helpdesk secrets: one per device, never in a row, none for an older device', async () => {
    const { store } = await backend.fresh();
    await store.addRegistrationToken(
      hashToken('h'.repeat(43)),
      { deviceGroup: 'g', uses: 2, expiresAt: T + 60_000 },
      T,
    );
    const secret = randomBytes(32);
    const withKey = await store.registerDevice(
      hashToken('h'.repeat(43)),
      { ...device(), helpdeskSecret: secret },
      T,
    );
    const older = await store.registerDevice(hashToken('h'.repeat(43)), device(), T);
    expect(await store.getHelpdeskSecret(withKey.id)).toEqual(secret);
    expect(await store.getHelpdeskSecret(older.id)).toBeNull();
    expect(await store.getHelpdeskSecret(randomUUID())).toBeNull();
    expect(JSON.stringify(await store.getDevice(withKey.id))).not.toMatch(/helpdesk/i);
    const rows = JSON.stringify(await store.db.all('SELECT * FROM devices'));
    expect(rows).not.toContain(secret.toString('base64url'));
    expect(rows).not.toContain(secret.toString('hex'));
  });

  test('an older device is offered one helpdesk secret, usable only once its agent confirms', async () => {
    const { store } = await backend.fresh();
    await store.addRegistrationToken(
      hashToken('o'.repeat(43)),
      { deviceGroup: 'g', uses: 3, expiresAt: T + 60_000 },
      T,
    );
    const older = await store.registerDevice(hashToken('o'.repeat(43)), device(), T);
    const first = randomBytes(32);
    expect(await store.offerHelpdeskSecret(older.id, first)).toEqual(first);
    // Not confirmed: no codes yet, and the same secret offered again (not a second one).
    expect(await store.getHelpdeskSecret(older.id)).toBeNull();
    expect(await store.offerHelpdeskSecret(older.id, randomBytes(32))).toEqual(first);
    expect(await store.confirmHelpdeskSecret(older.id)).toBe(true);
    expect(await store.getHelpdeskSecret(older.id)).toEqual(first);
    // Kept: never offered again, a second confirmation changes nothing.
    expect(await store.offerHelpdeskSecret(older.id, randomBytes(32))).toBeNull();
    expect(await store.confirmHelpdeskSecret(older.id)).toBe(false);
    expect(await store.getHelpdeskSecret(older.id)).toEqual(first);
    const rows = JSON.stringify(await store.db.all('SELECT * FROM devices'));
    expect(rows).not.toContain(first.toString('base64url'));
    // A device registered with its secret, a revoked one and an unknown one get none.
    const withKey = await store.registerDevice(
      hashToken('o'.repeat(43)),
      { ...device(), helpdeskSecret: randomBytes(32) },
      T,
    );
    expect(await store.offerHelpdeskSecret(withKey.id, randomBytes(32))).toBeNull();
    const revoked = await store.registerDevice(hashToken('o'.repeat(43)), device(), T);
    await store.revokeDevice(revoked.id, T + 1);
    expect(await store.offerHelpdeskSecret(revoked.id, randomBytes(32))).toBeNull();
    expect(await store.confirmHelpdeskSecret(revoked.id)).toBe(false);
    expect(await store.getHelpdeskSecret(revoked.id)).toBeNull();
    expect(await store.offerHelpdeskSecret(randomUUID(), randomBytes(32))).toBeNull();
  });

  test('users: enrollment, unlocks, reset, groups, status, removal', async () => {
    const { store } = await backend.fresh();
    await store.addUser('bob', ['ops'], T);
    const link = hashToken('l'.repeat(43));
    await store.updateUser(
      'bob',
      { kind: 'pending', totp, tokenHash: link, tokenExpiresAt: T + 1000 },
      T,
    );
    expect(await store.findEnrollment(link, T)).toEqual({ user: 'bob', expiresAt: T + 1000 });
    expect(await store.findEnrollment(link, T + 1000)).toBeNull(); // expired
    expect(await store.findEnrollment(hashToken('z'.repeat(43)), T)).toBeNull();
    const dev = randomUUID();
    await store.updateUser('bob', { kind: 'unlock', deviceId: dev }, T + 5);
    await store.updateUser('bob', { kind: 'unlock', deviceId: dev }, T + 6);
    await store.updateUser('bob', { kind: 'unlock' }, T + 7);
    await store.updateUser('bob', { kind: 'status', status: 'suspended' }, T + 8);
    const bob = await store.updateUser('bob', { kind: 'groups', groups: ['ops', 'db'] }, T + 9);
    expect(bob).toMatchObject({
      groups: ['ops', 'db'],
      status: 'suspended',
      pending: true,
      unlockedAt: T + 7,
      deviceUnlocks: { [dev]: T + 6 },
      graceStartedAt: T,
      role: 'user',
    });
    const reset = await store.updateUser('bob', { kind: 'reset', newGrace: true }, T + 10);
    expect(reset).toMatchObject({ totp: null, pending: false, graceStartedAt: T + 10 });
    expect(await store.findEnrollment(link, T)).toBeNull(); // the link went with the reset
    // Without a new grace the reset ends it (the account may be compromised).
    const ended = await store.updateUser('bob', { kind: 'reset', newGrace: false }, T + 11);
    expect(ended.graceStartedAt).toBe(GRACE_ENDED);
    // The pending change is not visible to devices: no revision.
    expect(await store.revision()).toBe(8);
    await store.removeUser('bob', T + 12);
    expect(await store.getUser('bob')).toBeNull();
    expect(await store.listUsers()).toEqual([]);
    const set = await store.changesSince(0, 100, []);
    expect(set.kind === 'changes' && set.changes.at(-1)).toMatchObject({
      revision: 9,
      kind: 'user',
      subject: 'bob',
      before: ['ops', 'db'],
      after: null,
    });
  });

  test('enrollment links are single use; recovery codes and roles', async () => {
    const { store } = await backend.fresh();
    await store.addUser('eve', [], T);
    const link = hashToken('k'.repeat(43));
    await store.updateUser(
      'eve',
      { kind: 'pending', totp, tokenHash: link, tokenExpiresAt: T + 1000 },
      T,
    );
    expect(await store.consumeEnrollment(link, T)).toEqual({ user: 'eve', expiresAt: T + 1000 });
    expect(await store.consumeEnrollment(link, T)).toBeNull();
    const hashes = await Promise.all(generateRecoveryCodes(2).map((c) => hashRecoveryCode(c)));
    const withCodes = await store.setRecoveryCodes('eve', hashes, T + 1);
    expect([...withCodes.recoveryCodes].sort()).toEqual([...hashes].sort());
    const id = recoveryCodeId(hashes[0] as string) as string;
    expect(await store.useRecoveryCode('eve', id, T + 2)).toBe(true);
    expect(await store.useRecoveryCode('eve', id, T + 3)).toBe(false);
    expect(await store.useRecoveryCode('nobody', id, T + 3)).toBe(false);
    expect((await store.getUser('eve'))?.recoveryCodes).toEqual([hashes[1]]);
    await expect(
      store.setRecoveryCodes('eve', [hashes[1] as string, hashes[1] as string], T),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const revision = await store.revision();
    expect((await store.setRole('eve', 'admin', T)).role).toBe('admin');
    expect(await store.revision()).toBe(revision); // not something devices see
    await expect(store.setRole('nobody', 'admin', T)).rejects.toMatchObject({
      code: 'USER_NOT_FOUND',
    });
  });

  test('policies: defaults, patches, scope changes, device groups', async () => {
    const { store } = await backend.fresh();
    expect((await store.getPolicy('web')).explicit).toBe(false);
    const p = await store.setPolicy('web', { maxAttempts: 7 }, T);
    expect(p.maxAttempts).toBe(7);
    await store.setPolicy('web', { userGroups: ['ops'] }, T + 1);
    expect(await store.getPolicy('web')).toMatchObject({
      explicit: true,
      policy: { maxAttempts: 7, userGroups: ['ops'] },
    });
    const set = await store.changesSince(0, 100, ['default']);
    expect(set.kind === 'changes' && set.changes.map((c) => c.kind)).toEqual(['policy', 'scope']);
    expect(set.kind === 'changes' && set.policies.get('web')?.userGroups).toEqual(['ops']);
    await store.addRegistrationToken(
      hashToken('r'.repeat(43)),
      { deviceGroup: 'db', uses: 1, expiresAt: T },
      T,
    );
    expect(await store.listDeviceGroups()).toEqual(['db', 'default', 'web']);
  });

  test('devices: revoke, last seen, acks and facts in batches', async () => {
    const { store } = await backend.fresh();
    await store.addRegistrationToken(
      hashToken('m'.repeat(43)),
      { deviceGroup: 'g', uses: 1000, expiresAt: T + 1 },
      T,
    );
    const ids: string[] = [];
    for (let i = 0; i < 620; i++)
      ids.push((await store.registerDevice(hashToken('m'.repeat(43)), device(), T)).id);
    const [a, b] = ids as [string, string];
    await store.touchDevice(a, { at: T + 5, agentVersion: '2' });
    await store.setAckedRevision(a, 3);
    expect(await store.getDevice(a)).toMatchObject({
      lastSeenAt: T + 5,
      agentVersion: '2',
      ackedRevision: 3,
    });
    const newFacts = { ...facts, hostname: 'renamed' };
    // More rows than one statement takes: every one is written.
    await store.recordDeviceActivity(ids.map((id) => ({ id, seenAt: T + 9, ackedRevision: 4 })));
    await store.recordDeviceActivity([{ id: b, facts: newFacts, agentVersion: '3' }]);
    const all = await store.listDevices();
    expect(all.every((d) => d.lastSeenAt === T + 9 && d.ackedRevision === 4)).toBe(true);
    expect(await store.getDevice(b)).toMatchObject({ facts: newFacts, agentVersion: '3' });
    const revoked = await store.revokeDevice(a, T + 10);
    expect((await store.revokeDevice(a, T + 20)).revokedAt).toBe(revoked.revokedAt);
    expect(revoked.revokedAt).toBe(T + 10);
    await expect(store.revokeDevice('nope', T)).rejects.toMatchObject({
      code: 'DEVICE_NOT_FOUND',
    });
    expect(await store.getDevice('nope')).toBeNull();
    // Many at once (hellos arriving together), more than one statement takes; unknown ids absent.
    const found = await store.getDevices([...ids, 'nope', a]);
    expect([...found.keys()].sort()).toEqual([...ids].sort());
    expect(found.get(a)).toEqual(await store.getDevice(a));
    expect(found.get(b)?.facts).toEqual(newFacts);
    expect((await store.getDevices([])).size).toBe(0);
  });

  test('events: one per device and id, filters, the latest N oldest first', async () => {
    const { store } = await backend.fresh();
    const [d1, d2] = [randomUUID(), randomUUID()];
    const e = (id: string, user: string, at: number) => ({
      id,
      at,
      user,
      service: 'sshd',
      outcome: 'ok' as const,
    });
    const first = await store.addEvents(d1, [e('1', 'ann', T), e('2', 'bea', T + 1)], T + 2);
    expect(first.map((x) => x.seq)).toEqual([...first.map((x) => x.seq)].sort((x, y) => x - y));
    expect(await store.addEvents(d1, [e('1', 'ann', T)], T + 3)).toEqual([]); // a resend
    const other = await store.addEvents(
      d2,
      [
        {
          ...e('1', 'ann', T + 4),
          rhost: '10.0.0.1',
          tty: 'pts/1',
          reason: 'r',
          recoveryCodeId: 'c',
        },
      ],
      T + 5,
    );
    expect(other).toHaveLength(1);
    expect((await store.queryEvents({ limit: 10 })).map((x) => [x.device, x.id])).toEqual([
      [d1, '1'],
      [d1, '2'],
      [d2, '1'],
    ]);
    expect(await store.queryEvents({ user: 'ann', device: d2, limit: 10 })).toEqual([
      {
        ...e('1', 'ann', T + 4),
        rhost: '10.0.0.1',
        tty: 'pts/1',
        reason: 'r',
        recoveryCodeId: 'c',
        device: d2,
        receivedAt: T + 5,
        seq: other[0]?.seq,
      },
    ]);
    expect((await store.queryEvents({ since: T + 1, until: T + 4, limit: 10 })).length).toBe(1);
    expect((await store.queryEvents({ afterSeq: first[1]?.seq, limit: 10 })).length).toBe(1);
    expect((await store.queryEvents({ limit: 2 })).map((x) => x.id)).toEqual(['2', '1']);
  });

  test('snapshots and deltas carry the current users and policies', async () => {
    const { store } = await backend.fresh();
    await store.addUser('a', ['g1'], T);
    await store.addUser('b', ['g2'], T);
    await store.setPolicy('web', { prompts: 2 }, T);
    await store.updateUser('a', { kind: 'groups', groups: ['g3'] }, T);
    const snap = await store.snapshot('web');
    expect(snap.revision).toBe(4);
    expect(snap.policy.prompts).toBe(2);
    expect(snap.users.map((u) => u.name)).toEqual(['a', 'b']);
    const delta = await store.changesSince(2, 100, ['default']);
    expect(delta.kind).toBe('changes');
    if (delta.kind !== 'changes') return;
    expect(delta.changes.map((c) => [c.revision, c.kind, c.subject])).toEqual([
      [3, 'policy', 'web'],
      [4, 'user', 'a'],
    ]);
    expect(delta.changes[1]).toMatchObject({ before: ['g1'], after: ['g3'] });
    expect([...delta.users.keys()]).toEqual(['a']);
    expect([...delta.policies.keys()].sort()).toEqual(['default', 'web']);
  });

  test('admin tokens are found by hash only', async () => {
    const { store } = await backend.fresh();
    await store.addAdminToken(hashToken('a'.repeat(43)), T);
    expect(await store.hasAdminToken(hashToken('a'.repeat(43)))).toBe(true);
    expect(await store.hasAdminToken(hashToken('b'.repeat(43)))).toBe(false);
  });

  test('the stores of the other areas run on it too: audit, chain, mail state', async () => {
    const { store } = await backend.fresh();
    const entry = {
      at: T,
      actor: 'local',
      role: 'admin',
      source: 'local',
      action: 'admin.add',
      target: 'ada',
      detail: {},
      result: 'ok',
    } as const;
    const a = await store.audit.append(entry);
    const b = await store.audit.append({ ...entry, target: 'bob' });
    expect(b.seq).toBeGreaterThan(a.seq);
    // Forwarding: admin actions after a cursor, oldest first; one cursor per destination and stream.
    expect((await store.audit.list({ afterSeq: a.seq, limit: 10 })).map((e) => e.target)).toEqual([
      'bob',
    ]);
    const dest = 'webhook:https://siem.example/idv';
    await store.integrations.setForwardCursor(cursorName(dest, 'login'), 5, T);
    await store.integrations.setForwardCursor(cursorName(dest, 'audit'), a.seq, T);
    expect(await store.integrations.getForwardCursor(dest)).toBe(5);
    expect(await store.integrations.getForwardCursor(cursorName(dest, 'audit'))).toBe(a.seq);
    const chain = await store.getChain('dev');
    await store.saveChain('dev', {
      ...chain,
      seq: 3,
      breaks: 1,
      lastBreak: { kind: 'gap', seq: 3, expected: 2, at: T },
    });
    expect(await store.getChain('dev')).toMatchObject({ seq: 3, lastBreak: { at: T } });
  });
});
