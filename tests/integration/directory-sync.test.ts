/**
 * Directory sync against a real OpenLDAP slapd (tests/helpers/slapd.ts): the README's config and
 * commands, StartTLS with a private CA, group objects, changes between syncs, the dry run, prune,
 * the refusals (unreachable, too few users), and an Active-Directory-like tree over ldaps://
 * (sAMAccountName, memberOf, userAccountControl).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../server/config.js';
import {
  agentStatus,
  askAgent,
  begin,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { readmeIdvctl, readmeJson } from '../helpers/readme.js';
import { missing } from '../helpers/require.js';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import { BIND_DN, SLAPD, startSlapd, SUFFIX, type Slapd } from '../helpers/slapd.js';

const skip = missing({ commands: [SLAPD, 'ldapadd', 'ldapmodify', 'ldapdelete', 'ldapwhoami'] });

type Json = Record<string, unknown>;
interface Report {
  dryRun: boolean;
  users: number;
  changed: boolean;
  plan: {
    add: { name: string; groups: string[] }[];
    groups: { name: string; to: string[] }[];
    suspend: { name: string; reason: string }[];
    resume: { name: string }[];
    remove: { name: string }[];
    skipped: { dn: string; reason: string }[];
  };
}

const person = (uid: string, mail = `${uid}@example.org`) =>
  [
    `dn: uid=${uid},ou=people,${SUFFIX}`,
    'objectClass: inetOrgPerson',
    `uid: ${uid}`,
    `cn: ${uid}`,
    `sn: ${uid}`,
    `mail: ${mail}`,
    '',
  ].join('\n');
const group = (cn: string, members: string[]) =>
  [
    `dn: cn=${cn},ou=groups,${SUFFIX}`,
    'objectClass: groupOfNames',
    `cn: ${cn}`,
    ...members.map((m) => `member: uid=${m},ou=people,${SUFFIX}`),
    '',
  ].join('\n');
const ou = (name: string) =>
  [`dn: ou=${name},${SUFFIX}`, 'objectClass: organizationalUnit', `ou: ${name}`, ''].join('\n');

async function users(server: TestServer): Promise<Map<string, Json>> {
  const r = await idvctl(server, ['user', 'list']);
  expect(r.code, r.stderr).toBe(0);
  return new Map((r.json as { users: Json[] }).users.map((u) => [u.name as string, u]));
}

/** Runs `idvctl --json ARGS` (default: directory sync) and returns the report. */
async function sync(server: TestServer, args: string[] = ['directory', 'sync']): Promise<Report> {
  const r = await idvctl(server, args);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.json as Report;
}

describe.skipIf(skip)('directory sync with OpenLDAP (group objects, StartTLS)', () => {
  let ldap: Slapd;
  let server: TestServer;
  let agent: TestAgent;
  const [dryRun = [], apply = [], prune = []] = readmeIdvctl('Sync users from LDAP/AD');

  beforeAll(async () => {
    ldap = await startSlapd();
    await ldap.add(
      [
        ou('people'),
        ou('groups'),
        person('alice'),
        person('bob'),
        person('carol'),
        person('erin'),
        group('ops', ['alice', 'bob']),
        group('dev', ['carol', 'erin']),
        group('marketing', ['bob']),
      ].join('\n'),
    );
    const [readme] = readmeJson('Sync users from LDAP/AD');
    const directory = {
      ...(readme?.directory as Json),
      url: ldap.url,
      caFile: ldap.caFile,
      bindPasswordFile: ldap.passwordFile,
      intervalSeconds: 0,
    };
    expect(configSchema.partial().safeParse({ directory }).success).toBe(true);
    expect((readme?.directory as Json).bindDn).toBe(BIND_DN);
    server = await startServer({ config: { directory } });
    // A local user the directory does not know: never touched by the sync.
    expect((await idvctl(server, ['user', 'add', 'localadmin'])).code).toBe(0);
    agent = await startAgent({ server, policy: { userGroups: ['ops'] } });
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await ldap?.stop();
  });

  it('has the README commands', () => {
    expect(dryRun).toEqual(['directory', 'sync', '--dry-run']);
    expect(apply).toEqual(['directory', 'sync']);
    expect(prune).toEqual(['directory', 'sync', '--prune']);
  });

  it('a dry run prints the plan and changes nothing', async () => {
    const plan = await sync(server, dryRun);
    expect(plan.dryRun).toBe(true);
    expect(plan.plan.add).toEqual([
      {
        name: 'alice',
        groups: ['ops'],
        dn: `uid=alice,ou=people,${SUFFIX}`,
        mail: 'alice@example.org',
      },
      { name: 'bob', groups: ['ops'], dn: `uid=bob,ou=people,${SUFFIX}`, mail: 'bob@example.org' },
      {
        name: 'carol',
        groups: ['dev'],
        dn: `uid=carol,ou=people,${SUFFIX}`,
        mail: 'carol@example.org',
      },
      {
        name: 'erin',
        groups: ['dev'],
        dn: `uid=erin,ou=people,${SUFFIX}`,
        mail: 'erin@example.org',
      },
    ]);
    expect([...(await users(server)).keys()]).toEqual(['localadmin']);
  });

  it('the human dry run lists each change', async () => {
    const r = await run(IDVCTL_BIN, ['--server', server.url, ...dryRun], {
      IDV_TOKEN: server.adminToken,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Dry run: the directory has 4 users');
    expect(r.stdout).toContain('+ add alice (groups ops)');
    expect(r.stdout).toContain('+ add carol (groups dev)');
  });

  it('a sync adds the users with their taken groups (grace starts), pushed to the devices', async () => {
    const before = Date.now();
    const r = await sync(server, apply);
    expect(r.changed).toBe(true);
    const u = await users(server);
    expect(u.get('alice')).toMatchObject({ groups: ['ops'], status: 'active', enrolled: false });
    expect(u.get('bob')?.groups).toEqual(['ops']); // marketing is not a taken group
    expect(u.get('carol')?.groups).toEqual(['dev']);
    expect(Date.parse(u.get('alice')?.graceStartedAt as string)).toBeGreaterThanOrEqual(
      before - 1000,
    );
    // The device (policy: ops only) gets alice and bob, not carol.
    await waitFor(async () => (await agentStatus(agent)).users === 2, 'two users on the device');
  });

  it('is idempotent: a second sync changes nothing', async () => {
    const revision = async () =>
      ((await (await fetch(`${server.url}/healthz`)).json()) as { revision: number }).revision;
    const rev = await revision();
    const r = await sync(server, apply);
    expect(r.changed).toBe(false);
    expect(await revision()).toBe(rev);
  });

  it('applies changes between two syncs: group change pushed, user gone suspended, new user added', async () => {
    await ldap.modify(
      [
        `dn: cn=ops,ou=groups,${SUFFIX}`,
        'changetype: modify',
        'add: member',
        `member: uid=carol,ou=people,${SUFFIX}`,
        '',
      ].join('\n'),
    );
    await ldap.remove(`uid=bob,ou=people,${SUFFIX}`);
    await ldap.add(person('dave'));
    const plan = await sync(server, dryRun);
    expect(plan.plan.groups).toEqual([{ name: 'carol', from: ['dev'], to: ['dev', 'ops'] }]);
    expect(plan.plan.suspend).toEqual([{ name: 'bob', reason: 'gone from the directory' }]);
    expect(plan.plan.add.map((a) => a.name)).toEqual(['dave']);
    expect((await users(server)).get('bob')?.status).toBe('active'); // dry run: unchanged

    await sync(server, apply);
    const u = await users(server);
    expect(u.get('bob')?.status).toBe('suspended');
    expect(u.get('carol')?.groups).toEqual(['dev', 'ops']);
    expect(u.get('dave')).toMatchObject({ groups: [], status: 'active' });
    expect(u.get('localadmin')?.status).toBe('active');
    // Pushed: carol is now on the ops device, and bob is refused there.
    await waitFor(async () => (await agentStatus(agent)).users === 3, 'carol on the device');
    await waitFor(async () => {
      const [answer] = (await askAgent(agent.socket, [begin('bob')])) as Json[];
      return answer?.type === 'deny';
    }, 'bob refused on the device');
  });

  it('resumes a user the sync suspended when it comes back, and --prune removes users gone', async () => {
    await ldap.add(person('bob'));
    await sync(server, apply);
    expect((await users(server)).get('bob')?.status).toBe('active');
    await ldap.remove(`uid=bob,ou=people,${SUFFIX}`);
    const r = await sync(server, prune);
    expect(r.plan.remove).toEqual([{ name: 'bob' }]);
    const u = await users(server);
    expect(u.has('bob')).toBe(false);
    expect(u.has('localadmin')).toBe(true);
  });

  it('refuses a result under half of the last one, and 0 users, changing nothing', async () => {
    for (const uid of ['alice', 'carol', 'dave'])
      await ldap.remove(`uid=${uid},ou=people,${SUFFIX}`);
    const r = await idvctl(server, apply);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ error: { code: 'DIRECTORY_SUSPICIOUS' } });
    expect((r.json as { error: { message: string } }).error.message).toContain(
      'the directory returned 1 users, fewer than half of the 4 of the last sync; nothing was changed',
    );
    expect((await users(server)).get('alice')?.status).toBe('active');
    await ldap.remove(`uid=erin,ou=people,${SUFFIX}`);
    const zero = await idvctl(server, ['directory', 'sync', '--force']);
    expect(zero.code).toBe(1);
    expect((zero.json as { error: { message: string } }).error.message).toContain(
      'the directory returned no users; nothing was changed',
    );
    expect([...(await users(server)).values()].every((u) => u.status === 'active')).toBe(true);
  });

  it('an unreachable directory changes nothing and says why', async () => {
    await ldap.stop();
    const r = await idvctl(server, apply);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ error: { code: 'DIRECTORY_UNAVAILABLE' } });
    expect((r.json as { error: { message: string } }).error.message).toMatch(
      new RegExp(`cannot read the directory at ${ldap.url}: .+`),
    );
    expect((await users(server)).get('alice')?.status).toBe('active');
    expect(server.logs()).not.toContain('idv-bind-secret');
  });
});

describe.skipIf(skip)('directory sync with an Active-Directory-like tree over ldaps://', () => {
  let ldap: Slapd;
  let server: TestServer;
  const adUser = (sam: string, uac: number, groups: string[]) =>
    [
      `dn: cn=${sam},ou=users,${SUFFIX}`,
      'objectClass: user',
      `cn: ${sam}`,
      `sn: ${sam}`,
      `sAMAccountName: ${sam}`,
      `userAccountControl: ${uac}`,
      ...groups.map((g) => `memberOf: cn=${g},ou=groups,${SUFFIX}`),
      '',
    ].join('\n');

  beforeAll(async () => {
    ldap = await startSlapd();
    await ldap.add(
      [
        ou('users'),
        adUser('frank', 512, ['Admins', 'VPN Users']),
        adUser('grace', 512, ['Admins']),
        adUser('heidi', 514, ['Admins']), // 514 = NORMAL_ACCOUNT | ACCOUNTDISABLE
      ].join('\n'),
    );
    server = await startServer({
      config: {
        directory: {
          url: ldap.ldapsUrl,
          caFile: ldap.caFile,
          bindDn: BIND_DN,
          bindPasswordFile: ldap.passwordFile,
          baseDn: `ou=users,${SUFFIX}`,
          userFilter: '(objectClass=user)',
          loginAttribute: 'sAMAccountName',
          membership: { kind: 'memberOf' },
          intervalSeconds: 0,
        },
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await ldap?.stop();
  });

  it('adds enabled accounts with their memberOf groups, not disabled ones; skips unusable group names', async () => {
    const r = await sync(server);
    expect(r.plan.add.map((a) => [a.name, a.groups])).toEqual([
      ['frank', ['Admins']],
      ['grace', ['Admins']],
    ]);
    expect(r.plan.skipped).toEqual(
      expect.arrayContaining([
        { dn: `cn=heidi,ou=users,${SUFFIX}`, reason: 'disabled in the directory: not added' },
        {
          dn: `cn=VPN Users,ou=groups,${SUFFIX}`,
          reason: 'group name "VPN Users" is not usable in idv',
        },
      ]),
    );
    expect([...(await users(server)).keys()]).toEqual(['frank', 'grace']);
  });

  it('suspends an account disabled in AD (userAccountControl bit 2) and resumes it when enabled', async () => {
    const uac = (v: number) =>
      [
        `dn: cn=grace,ou=users,${SUFFIX}`,
        'changetype: modify',
        'replace: userAccountControl',
        `userAccountControl: ${v}`,
        '',
      ].join('\n');
    await ldap.modify(uac(514));
    const r = await sync(server);
    expect(r.plan.suspend).toEqual([{ name: 'grace', reason: 'disabled in the directory' }]);
    expect((await users(server)).get('grace')?.status).toBe('suspended');
    await ldap.modify(uac(512));
    expect((await sync(server)).plan.resume).toEqual([{ name: 'grace' }]);
    expect((await users(server)).get('grace')?.status).toBe('active');
  });

  it('refuses to start with a bind password file others can read, naming the field', async () => {
    const { chmodSync } = await import('node:fs');
    chmodSync(ldap.passwordFile, 0o644);
    try {
      await expect(
        startServer({
          config: {
            directory: {
              url: ldap.url,
              bindDn: BIND_DN,
              bindPasswordFile: ldap.passwordFile,
              baseDn: SUFFIX,
            },
          },
        }),
      ).rejects.toThrow(/directory\.bindPasswordFile: .*bind\.pw is mode 644; it must be 0600/);
    } finally {
      chmodSync(ldap.passwordFile, 0o600);
    }
  });

  it('never resumes a user an admin suspended', async () => {
    expect((await idvctl(server, ['user', 'suspend', 'frank'])).code).toBe(0);
    const r = await sync(server);
    expect(r.plan.resume).toEqual([]);
    expect((await users(server)).get('frank')?.status).toBe('suspended');
  });
});
