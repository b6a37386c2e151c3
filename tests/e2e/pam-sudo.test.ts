/**
 * The real sudo on the files `idv-agent pam enable --service sudo` writes, typed into under a
 * pseudo-terminal as a person would: `sudo -i` (Debian 12 reads /etc/pam.d/sudo-i for it, with
 * its own `@include common-auth`) must ask for the code after the password.
 *
 * The machine's /etc/pam.d and /etc/sudoers are never touched: sudo runs in a private mount
 * namespace of its own (`unshare --mount`), where a copy of /etc/pam.d (with Debian 12's sudo and
 * sudo-i files from the fixtures, then enabled by the real agent command) and a sudoers file of
 * the test's are bind-mounted over the originals; they vanish with the namespace. sudo's
 * timestamps go to the test's folder (sudoers `timestampdir`).
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { MODULE, MODULE_REQUIREMENT } from './pam-module/paths.js';
import { PtySession } from './pty.js';
import { usePamWorld, type TestUser } from './system.js';

const skip = missing({
  commands: ['sudo', 'unshare', 'mount', 'setpriv', 'useradd', 'userdel'],
  root: true,
  files: [MODULE_REQUIREMENT],
});

const CODE_PROMPT = /Verification code \(authenticator app\): $/;

describe.skipIf(skip)(`real sudo after pam enable${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const pam = usePamWorld({ maxAttempts: 5, prompts: 1 });
  const { cleanup, person } = pam;
  let root: string;
  let pamDir: string;
  let enableOutput: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'idv-sudo-'));
    cleanup.add(() => rmSync(root, { recursive: true, force: true }));
    pamDir = join(root, 'pam.d');
    cpSync('/etc/pam.d', pamDir, { recursive: true });
    for (const f of ['sudo', 'sudo-i'])
      copyFileSync(resolve('tests/e2e/pamconfig-fixtures/debian', f), join(pamDir, f));
    mkdirSync(join(root, 'ts'), { mode: 0o700 });
    // A copy in the test's root-owned folder: pam enable refuses a module others could replace.
    const module = join(root, 'pam_idv.so');
    copyFileSync(MODULE, module);
    chmodSync(module, 0o644);
    enableOutput = execFileSync(
      resolve('bin/idv-agent'),
      [
        'pam',
        'enable',
        '--service',
        'sudo',
        '--pam-dir',
        pamDir,
        '--module-path',
        module,
        '--socket',
        pam.world.agent.socket,
        '--backup-dir',
        join(root, 'backups'),
      ],
      { encoding: 'utf8' },
    );
  });

  /** `sudo -k; sudo -i COMMAND` as the user, in a namespace that sees the test's files. */
  function sudo(os: TestUser, command: string, pamFiles = pamDir): PtySession {
    const sudoers = join(root, `sudoers-${os.name}`);
    writeFileSync(
      sudoers,
      [
        `Defaults timestampdir=${join(root, 'ts')}`,
        'Defaults timestamp_timeout=0',
        'Defaults passwd_tries=1',
        'Defaults !lecture',
        'root ALL=(ALL:ALL) ALL',
        `${os.name} ALL=(ALL:ALL) ALL`,
        '',
      ].join('\n'),
      { mode: 0o440 },
    );
    const s = PtySession.spawn('/usr/bin/unshare', [
      '--mount',
      '--propagation',
      'private',
      '--',
      '/bin/sh',
      '-c',
      'mount --bind "$1" /etc/pam.d && mount --bind "$2" /etc/sudoers && exec setpriv --reuid "$3" --regid "$3" --init-groups -- /bin/sh -c "sudo -k; $4; echo exit=\\$?"',
      'sh',
      pamFiles,
      sudoers,
      os.name,
      `sudo -i ${command}`,
    ]);
    cleanup.add(() => s.kill());
    return s;
  }

  it('pam enable --service sudo wires sudo-i too', () => {
    expect(enableOutput).toContain('sudo: added');
    expect(enableOutput).toContain('sudo-i: added');
  });

  it('sudo -i asks for the code after the password; the right code gives a root login shell', async () => {
    const { os, idv } = await person();
    const s = sudo(os, 'id -un');
    await s.answer(/\[sudo\] password for \S+: $/, `${os.password}\r`);
    // Either the code prompt, or (with sudo-i unwired) the command already ran.
    await s.expect(/Verification code|exit=\d/, 30_000, s.mark);
    expect(s.output()).toMatch(CODE_PROMPT);
    await s.answer(CODE_PROMPT, `${idv.code()}\r`);
    await s.expect(/exit=\d/, 30_000, s.mark);
    expect(s.output()).toMatch(/\broot\r?\n.*exit=0/s);
    expect(s.output()).not.toContain(idv.code());
  });

  it("with the agent down, the module says so as idv's line before sudo blames the password", async () => {
    const { os } = await person();
    const down = join(root, 'pam-down.d');
    cpSync(pamDir, down, { recursive: true });
    for (const f of ['sudo', 'sudo-i'])
      writeFileSync(
        join(down, f),
        readFileSync(join(down, f), 'utf8').replace(
          `socket=${pam.world.agent.socket}`,
          `socket=${join(root, 'nothing-here.sock')} timeout=2`,
        ),
      );
    const s = sudo(os, 'id -un', down);
    await s.answer(/\[sudo\] password for \S+: $/, `${os.password}\r`);
    await s.expect(/exit=\d/, 30_000, s.mark);
    expect(s.output()).toContain('exit=1');
    expect(s.output()).toMatch(/\nidv: Verification service unavailable\r?\n/);
    // sudo's own words, explained in docs/pam.md: the password was right.
    expect(s.output()).toContain('incorrect password attempt');
  });

  it('sudo -i with the right password and a wrong code is refused', async () => {
    const { os, idv } = await person();
    const s = sudo(os, 'id -un');
    await s.answer(/\[sudo\] password for \S+: $/, `${os.password}\r`);
    await s.answer(CODE_PROMPT, `${idv.wrong()}\r`);
    await s.expect(/exit=\d/, 30_000, s.mark);
    expect(s.output()).toContain('exit=1');
    expect(s.output()).not.toMatch(/^root\r?$/m);
  });
});
