// What idv says about the local accounts it does not manage, with a real server and agent and
// real local accounts (useradd): `status`, `doctor` and `pam enable` list the ones that can log
// in and say what the policy does to them; `doctor` checks the break-glass account exists.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addEnrolledUser, setPolicy, waitFor } from '../helpers/agent.js';
import { missing } from '../helpers/require.js';
import { startWorld, type World } from '../integration/helper-world.js';
import { Cleanup, createUser, suffix, type TestUser } from './system.js';

const skip = missing({ commands: ['useradd', 'userdel', 'usermod'], root: true });

interface Check {
  name: string;
  status: string;
  detail: string;
}

describe.skipIf(skip)(
  `local accounts idv does not manage${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let world: World;
    let shell: TestUser;
    let admin: string;
    let managed: TestUser;
    let tmp: string;
    const cleanup = new Cleanup();

    beforeAll(async () => {
      world = await startWorld({ unknownUsers: 'skip' });
      cleanup.add(() => world.stop());
      // One with a login shell, one with no shell but in the sudo group, one idv manages.
      shell = createUser();
      cleanup.add(() => shell.remove());
      admin = `idvta${suffix()}`;
      execFileSync('useradd', ['--shell', '/usr/sbin/nologin', '--groups', 'sudo', admin]);
      cleanup.add(() => {
        execFileSync('userdel', [admin]);
      });
      managed = createUser();
      cleanup.add(() => managed.remove());
      await world.enrolled(managed.name);
      tmp = mkdtempSync(join(tmpdir(), 'idv-accounts-'));
      cleanup.add(() => rmSync(tmp, { recursive: true, force: true }));
    });
    afterAll(() => cleanup.run());

    it('status lists the local login accounts idv does not manage, and what happens to them', async () => {
      const r = await world.agent.cli(['status']);
      expect(r.stdout).toMatch(
        new RegExp(`Local accounts that can log in but idv does not manage: .*\\b${shell.name}\\b`),
      );
      expect(r.stdout).toContain(`${admin} (sudo)`);
      expect(r.stdout).toContain('with their password alone, no code (unknownUsers: skip)');
      expect(r.stdout).toContain('idvctl policy set --unknown-users deny');
      const json = (await world.agent.cli(['status', '--json'])).json as {
        unmanagedAccounts: string[];
      };
      expect(json.unmanagedAccounts).toEqual(expect.arrayContaining(['root', shell.name, admin]));
      expect(json.unmanagedAccounts).not.toContain(managed.name);
      // nologin and not in an admin group: cannot log in, not listed.
      expect(json.unmanagedAccounts).not.toContain('daemon');
    });

    it('doctor warns about them under skip, and passes once the policy refuses them', async () => {
      const pamDir = join(tmp, 'pam.d');
      mkdirSync(pamDir);
      const by = async (): Promise<Check[]> =>
        (
          (await world.agent.cli(['doctor', '--json', '--pam-dir', pamDir])).json as {
            checks: Check[];
          }
        ).checks;
      const before = (await by()).find((c) => c.name === 'accounts idv does not manage');
      expect(before?.status).toBe('warn');
      expect(before?.detail).toContain(shell.name);

      await setPolicy(world.server, { unknownUsers: 'deny' });
      await waitFor(async () => {
        const c = (await by()).find((x) => x.name === 'accounts idv does not manage');
        return c?.status === 'pass';
      }, 'the agent to get the deny policy');
      const after = (await by()).find((c) => c.name === 'accounts idv does not manage');
      expect(after?.detail).toContain('The policy refuses them (unknownUsers: deny)');
      await setPolicy(world.server, { unknownUsers: 'skip' });
    });

    it('doctor fails a break-glass account that does not exist, and passes one that does', async () => {
      const pamDir = join(tmp, 'pam-bg');
      mkdirSync(pamDir);
      cpSync(resolve('tests/e2e/pamconfig-fixtures/debian'), pamDir, { recursive: true });
      const enable = await world.agent.cli([
        'pam',
        'enable',
        '--service',
        'sudo',
        '--hook',
        'exec',
        '--pam-dir',
        pamDir,
        '--backup-dir',
        join(tmp, 'b'),
        '--helper',
        resolve('bin/idv-pam-helper'),
        '--break-glass',
        shell.name,
      ]);
      expect(enable.code, enable.stdout + enable.stderr).toBe(0);
      // pam enable says what happens to the accounts idv does not manage.
      expect(enable.stdout).toContain('Local accounts that can log in but idv does not manage');
      expect(enable.stdout).toContain(admin);
      const check = async (): Promise<Check | undefined> =>
        (
          (await world.agent.cli(['doctor', '--json', '--pam-dir', pamDir])).json as {
            checks: Check[];
          }
        ).checks.find((c) => c.name === 'break-glass account');
      expect(await check()).toMatchObject({
        status: 'pass',
        detail: `${shell.name} exists (skips the code at sudo, sudo-i)`,
      });
      // The account goes away later (the file still names it): doctor says so and how to fix it.
      const gone = `idvtg${suffix()}`;
      const sudo = join(pamDir, 'sudo');
      writeFileSync(
        sudo,
        readFileSync(sudo, 'utf8').replace(`user in ${shell.name}`, `user in ${gone}`),
      );
      const c = await check();
      expect(c?.status).toBe('fail');
      expect(c?.detail).toContain(`${gone} (named at sudo) is not a local account`);
      expect(c?.detail).toContain(`useradd --create-home --shell /bin/bash ${gone}`);
    });

    it('an account added to idv leaves the list', async () => {
      await addEnrolledUser(world.server, shell.name);
      await waitFor(async () => {
        const j = (await world.agent.cli(['status', '--json'])).json as {
          unmanagedAccounts: string[];
        };
        return !j.unmanagedAccounts.includes(shell.name);
      }, `${shell.name} to be managed`);
    });
  },
);
