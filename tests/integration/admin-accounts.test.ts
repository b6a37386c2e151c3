/**
 * Console accounts on both store backends (real PostgreSQL too): removing an admin or giving it
 * another role is refused with LAST_ADMIN when no other active account of role admin would be
 * left, and changes nothing then; otherwise it returns the account as it was.
 */
import { describe, expect, it } from 'vitest';
import { newTotpParams } from '../../protocol/totp.js';
import type { Store } from '../../server/store/store.js';
import { storeBackends } from '../helpers/stores.js';

const backends = await storeBackends();

async function activeAdmin(store: Store, name: string, role: 'admin' | 'helpdesk') {
  const now = Date.now();
  await store.admins.create(
    name,
    role,
    { tokenHash: name.padEnd(64, 'x'), expiresAt: now + 1e6 },
    'test',
    now,
  );
  const totp = newTotpParams();
  await store.admins.setPendingTotp(name, totp);
  await store.admins.completeSetup(
    name,
    { passwordHash: 'scrypt$', expectedSecret: totp.secret, recoveryHashes: [], step: 0 },
    now,
  );
}

describe.each(backends)('admin accounts on $name', (backend) => {
  it.skipIf(backend.skip !== null)(
    'keeps the last active admin; removes and demotes others',
    async () => {
      const { store } = await backend.fresh();
      await activeAdmin(store, 'ada', 'admin');
      await activeAdmin(store, 'hal', 'helpdesk');
      // A helpdesk account and an admin not yet set up do not count as another admin.
      await store.admins.create(
        'pat',
        'admin',
        { tokenHash: 'p'.repeat(64), expiresAt: Date.now() + 1e6 },
        'test',
        Date.now(),
      );
      await expect(store.admins.setRole('ada', 'helpdesk')).rejects.toMatchObject({
        code: 'LAST_ADMIN',
      });
      await expect(store.admins.removeGuarded('ada')).rejects.toMatchObject({ code: 'LAST_ADMIN' });
      expect((await store.admins.get('ada'))?.role).toBe('admin');
      // With hal made admin, either may go.
      expect((await store.admins.setRole('hal', 'admin')).role).toBe('helpdesk');
      expect((await store.admins.get('hal'))?.role).toBe('admin');
      expect((await store.admins.removeGuarded('ada')).name).toBe('ada');
      expect(await store.admins.get('ada')).toBeNull();
      await expect(store.admins.removeGuarded('hal')).rejects.toMatchObject({ code: 'LAST_ADMIN' });
      await expect(store.admins.removeGuarded('nobody')).rejects.toMatchObject({
        code: 'ADMIN_NOT_FOUND',
      });
      // The pending account may always go.
      await store.admins.removeGuarded('pat');
      expect((await store.admins.list()).map((a) => a.name)).toEqual(['hal']);
    },
  );
});
