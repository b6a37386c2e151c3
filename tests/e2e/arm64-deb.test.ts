/**
 * linux-arm64, cross-built on this amd64 machine and run under qemu-user: `npm run package --
 * --deb --arch arm64` gives the two arm64 packages (arm64 binary, sqlite3 addon, helper launcher
 * and pam_idv.so); the agent's installs with the arm64 dpkg in a Debian 12 arm64 root
 * (tests/e2e/arm64-root.ts). The package's arm64 single binary runs as the agent under
 * qemu-aarch64 (its libraries from that root): it registers with this machine's amd64 server,
 * syncs, and the arm64 pamtester in the root decides real logins through the package's arm64
 * pam_idv.so, asking that arm64 agent. What qemu-user does not show: real arm64 hardware's
 * timing, and the kernel (it is this machine's).
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script, no types
import { elfMachine as elfMachineUntyped } from '../../scripts/package-arch.mjs';
import {
  addEnrolledUser,
  codeFor,
  startAgent,
  waitConnected,
  type TestAgent,
} from '../helpers/agent.js';
import { PACKAGE_VERSION } from '../helpers/build-info.js';
import { missing } from '../helpers/require.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { arm64RootCache, enableArm64Binfmt, mountArm64Root, type Arm64Root } from './arm64-root.js';

const skip = missing({
  commands: [
    'debootstrap',
    'qemu-aarch64-static',
    'aarch64-linux-gnu-gcc',
    'aarch64-linux-gnu-g++',
    'dpkg-deb',
    'chroot',
    'rpmbuild',
    'rpm2cpio',
    'cpio',
  ],
  root: true,
  files: [
    { path: '/usr/lib/binfmt.d/qemu-aarch64.conf', hint: 'apt-get install qemu-user-static' },
  ],
});

const AARCH64 = 0xb7;

/** Every regular file under `dir`. */
function payloadFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? payloadFiles(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
  );
}
const elfMachine = elfMachineUntyped as (file: string) => number | null;
const SERVICE = 'idv-arm64-test';

describe.skipIf(skip)(`linux-arm64 packages under qemu${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let tmp: string;
  let out: string;
  let root: Arm64Root | undefined;
  let undoBinfmt: (() => void) | undefined;
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'idv-arm64-'));
    out = join(tmp, 'out');
    await new Promise<void>((done, fail) =>
      execFile(
        process.execPath,
        [resolve('scripts/package.mjs'), '--deb', '--arch', 'arm64', '--out', out],
        { maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) =>
          err ? fail(new Error(`package --arch arm64 failed: ${stdout}${stderr}`)) : done(),
      ),
    );
    undoBinfmt = enableArm64Binfmt();
    root = mountArm64Root(join(tmp, 'overlay'));
  }, 1_800_000); // cross build (sqlite3 from source, cached after) and, once, debootstrap

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    root?.remove();
    undoBinfmt?.();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('builds both arm64 packages: an arm64 binary, addon and launcher', () => {
    expect(
      readdirSync(out)
        .filter((f) => f.endsWith('.deb'))
        .sort(),
    ).toEqual([
      `idv-agent_${PACKAGE_VERSION}_arm64.deb`,
      `idv-server_${PACKAGE_VERSION}_arm64.deb`,
    ]);
    for (const f of ['idv', 'node_sqlite3.node', 'idv-pam-helper'])
      expect(elfMachine(join(out, f)), f).toBe(AARCH64);
  });

  it('builds aarch64 RPMs from the same binary whose every program is arm64', async () => {
    await new Promise<void>((done, fail) =>
      execFile(
        process.execPath,
        [resolve('scripts/package.mjs'), '--rpm-only', '--arch', 'arm64', '--out', out],
        (err, stdout, stderr) => (err ? fail(new Error(`${stdout}${stderr}`)) : done()),
      ),
    );
    for (const name of ['idv-agent', 'idv-server']) {
      const rpm = join(out, `${name}-${PACKAGE_VERSION}-1.aarch64.rpm`);
      const dir = mkdtempSync(join(tmp, `${name}-payload-`));
      execFileSync('sh', ['-c', `rpm2cpio "$1" | cpio -idm --quiet`, 'sh', rpm], { cwd: dir });
      const elves = payloadFiles(dir).filter((f) => elfMachine(f) !== null);
      // the binary and addon; the agent's launcher and PAM module too
      expect(elves.length, name).toBeGreaterThanOrEqual(name === 'idv-agent' ? 4 : 2);
      for (const f of elves) expect(elfMachine(f), f.slice(dir.length)).toBe(AARCH64);
    }
    expect(
      elfMachine(
        join(
          tmp,
          readdirSync(tmp).find((d) => d.startsWith('idv-agent-payload-'))!,
          'usr/lib64/security/pam_idv.so',
        ),
      ),
    ).toBe(AARCH64);
  }, 300_000);

  it('installs with dpkg in an arm64 root; its pam_idv.so in the arm64 pamtester decides real logins', async () => {
    const r = root as Arm64Root;
    const deb = `idv-agent_${PACKAGE_VERSION}_arm64.deb`;
    copyFileSync(join(out, deb), join(r.dir, 'tmp', deb));
    expect(r.run(['dpkg', '--install', `/tmp/${deb}`])).toContain('idv-agent is installed');
    const files = r.run(['dpkg', '-L', 'idv-agent']).split('\n');
    const module = files.find((l) => l.endsWith('/pam_idv.so'));
    expect(module).toMatch(/^\/(usr\/)?lib\/aarch64-linux-gnu\/security\/pam_idv\.so$/);
    expect(elfMachine(join(r.dir, module as string))).toBe(AARCH64);
    expect(elfMachine(join(r.dir, 'usr/bin/idv-pam-helper'))).toBe(AARCH64);

    server = await startServer();
    const { totp } = await addEnrolledUser(server, 'alice');
    // The arm64 agent: the package's binary under qemu-aarch64, its shared libraries (libstdc++)
    // from the arm64 root, picking the program by its name as /usr/bin/idv-agent's link does.
    agent = await startAgent({
      server,
      agentCommand: [
        'qemu-aarch64-static',
        '-L',
        arm64RootCache(),
        '-0',
        'idv-agent',
        join(out, 'idv'),
      ],
    });
    await waitConnected(agent, true);
    expect(readlinkSync(`/proc/${agent.process().pid}/exe`)).toMatch(/qemu-aarch64/);
    r.bind(dirname(agent.socket), '/run/idv-test');
    r.run(['useradd', '--no-create-home', 'alice']);
    writeFileSync(
      join(r.dir, 'etc/pam.d', SERVICE),
      `auth required pam_idv.so socket=/run/idv-test/${basename(agent.socket)}\naccount required pam_permit.so\n`,
    );
    const login = (code: string) => {
      try {
        return {
          code: 0,
          out: r.run(['pamtester', SERVICE, 'alice', 'authenticate'], `${code}\n`),
        };
      } catch (err) {
        const e = err as { status: number; stdout: string; stderr: string };
        return { code: e.status, out: `${e.stdout}${e.stderr}` };
      }
    };
    const valid = new Set([-1, 0, 1, 2].map((s) => codeFor(totp, Date.now() + s * 30_000)));
    const wrong = ['111111', '222222', '333333'].find((c) => !valid.has(c)) as string;
    const refused = login(wrong);
    expect(refused.code, refused.out).not.toBe(0);
    expect(refused.out).toMatch(/Wrong code/);
    // The next step's code: enrollment confirmed this step's, and a code is accepted only once.
    const ok = login(codeFor(totp, Date.now() + 30_000));
    expect(ok.out).toContain('successfully authenticated');
    expect(ok.code).toBe(0);
  }, 600_000);
});
