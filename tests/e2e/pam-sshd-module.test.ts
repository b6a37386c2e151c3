/**
 * A real OpenSSH server with idv's PAM module (pam_idv.so, built by scripts/build.mjs) in the
 * shipped Debian sshd files, and the real ssh client under a pseudo-terminal, typed into as a
 * person would: password + code (AuthenticationMethods keyboard-interactive: pam_unix asks
 * `Password:`, then pam_idv.so asks for the code, in one keyboard-interactive login), and public
 * key + code.
 */
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { missing, REQUIRE_E2E } from '../helpers/require.js';
import { startSshd, sshClient, type Sshd } from './sshd.js';
import { usePamWorld, MODULE, moduleSnippet, type TestUser, type EnrolledUser } from './system.js';

const tools = missing({
  commands: ['sshd', 'ssh', 'ssh-keygen', 'useradd', 'userdel'],
  root: true,
});
function moduleMissing(): string | null {
  if (existsSync(MODULE)) return null;
  const why = `${MODULE} not built (cc and libpam0g-dev needed)`;
  if (REQUIRE_E2E) throw new Error(`IDV_REQUIRE_E2E=1 but ${why}`);
  return why;
}
const skip = tools ?? moduleMissing();

const PASSWORD_PROMPT = /Password: $/;
const CODE_PROMPT = /Verification code \(authenticator app\): $/;
const COMMAND = 'echo logged-in-as-$(id -un)';

describe.skipIf(skip)(`sshd with pam_idv.so${skip ? ` (skipped: ${skip})` : ''}`, () => {
  // prompts 2: a wrong code is followed by a second prompt in the same login.
  const pam = usePamWorld({ maxAttempts: 5, prompts: 2 });
  const { cleanup, person } = pam;

  async function sshd(kind: 'password' | 'publickey', os: TestUser): Promise<Sshd> {
    const server = await startSshd({
      pamService: moduleSnippet(`debian/sshd-${kind}-code-module`, pam.world.agent.socket),
      configName: `sshd_config-${kind}-code.conf`,
      user: os,
    });
    cleanup.add(() => server.stop());
    return server;
  }

  describe('password + code (keyboard-interactive)', () => {
    let os: TestUser;
    let idv: EnrolledUser;
    let server: Sshd;

    beforeAll(async () => {
      ({ os, idv } = await person());
      server = await sshd('password', os);
    });

    it('the right password and the right code give a shell', async () => {
      const s = sshClient(server, os.name, COMMAND);
      cleanup.add(() => s.kill());
      await s.answer(PASSWORD_PROMPT, `${os.password}\r`);
      await s.answer(CODE_PROMPT, `${idv.code()}\r`);
      expect(await s.exit()).toBe(0);
      expect(s.output()).toContain(`logged-in-as-${os.name}`);
      // The password was asked by pam_unix, before any code: the key alone was not enough.
      expect(s.output().indexOf('Password:')).toBeLessThan(s.output().indexOf('Verification'));
    });

    it('the right password and wrong codes are refused, with the attempts left shown', async () => {
      const s = sshClient(server, os.name, COMMAND);
      cleanup.add(() => s.kill());
      await s.answer(PASSWORD_PROMPT, `${os.password}\r`);
      await s.answer(CODE_PROMPT, `${idv.wrong()}\r`);
      // The module asks again in the same login (policy prompts: 2), after the verdict.
      await s.answer(CODE_PROMPT, `${idv.wrong()}\r`);
      expect(await s.exit()).not.toBe(0);
      const out = s.output();
      expect(out).toContain('Wrong code, 4 attempts left');
      expect(out).toContain('Wrong code, 3 attempts left');
      expect(out).toContain('Permission denied');
      expect(out).not.toContain('logged-in-as');
    });

    it('a wrong code then the right one, in one login, gives a shell', async () => {
      const s = sshClient(server, os.name, COMMAND);
      cleanup.add(() => s.kill());
      await s.answer(PASSWORD_PROMPT, `${os.password}\r`);
      await s.answer(CODE_PROMPT, `${idv.wrong()}\r`);
      await s.answer(CODE_PROMPT, `${idv.code(1)}\r`);
      expect(await s.exit()).toBe(0);
      expect(s.output()).toContain('Wrong code, 2 attempts left');
      expect(s.output()).toContain(`logged-in-as-${os.name}`);
    });

    it('a wrong password is refused before any code is asked', async () => {
      // Debian's common-auth ends the stack on a wrong password (pam_deny is requisite), so
      // pam_idv.so never runs: no code prompt, and no attempt of the lockout count is spent.
      const s = sshClient(server, os.name, COMMAND);
      cleanup.add(() => s.kill());
      await s.answer(PASSWORD_PROMPT, `not-${os.password}\r`);
      expect(await s.exit()).not.toBe(0);
      expect(s.output()).toContain('Permission denied');
      expect(s.output()).not.toContain('Verification code');
      expect(s.output()).not.toContain('logged-in-as');
    });

    it('the agent stopped: the right password is not enough (fail closed)', async () => {
      await pam.world.agent.kill('SIGTERM');
      // timeout=3: the module waits for an agent that may be restarting, at most that long.
      server.setPam(
        moduleSnippet('debian/sshd-password-code-module', pam.world.agent.socket, 'timeout=3'),
      );
      try {
        const s = sshClient(server, os.name, COMMAND);
        cleanup.add(() => s.kill());
        await s.answer(PASSWORD_PROMPT, `${os.password}\r`);
        expect(await s.exit()).not.toBe(0);
        expect(s.output()).toContain('Verification service unavailable');
        expect(s.output()).not.toContain('logged-in-as');
      } finally {
        server.setPam(moduleSnippet('debian/sshd-password-code-module', pam.world.agent.socket));
        await pam.world.agent.restart();
      }
    });
  });

  describe('public key + code', () => {
    let os: TestUser;
    let idv: EnrolledUser;
    let server: Sshd;

    beforeAll(async () => {
      ({ os, idv } = await person());
      server = await sshd('publickey', os);
    });

    it('the key and the right code give a shell, with no password asked', async () => {
      const s = sshClient(server, os.name, COMMAND);
      cleanup.add(() => s.kill());
      await s.answer(CODE_PROMPT, `${idv.code()}\r`);
      expect(await s.exit()).toBe(0);
      expect(s.output()).toContain(`logged-in-as-${os.name}`);
      expect(s.output()).not.toContain('Password:');
    });

    it('the key and wrong codes are refused', async () => {
      const s = sshClient(server, os.name, COMMAND);
      cleanup.add(() => s.kill());
      await s.answer(CODE_PROMPT, `${idv.wrong()}\r`);
      await s.answer(CODE_PROMPT, `${idv.wrong()}\r`);
      expect(await s.exit()).not.toBe(0);
      expect(s.output()).toContain('Wrong code, 3 attempts left');
      expect(s.output()).not.toContain('logged-in-as');
    });
  });
});
