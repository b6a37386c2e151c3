/**
 * A real OpenSSH server on 127.0.0.1 with the shipped Debian sshd PAM files and sshd_config
 * lines, and the real ssh client under a pseudo-terminal, as a person logs in.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { TEXT } from '../../pam-helper/text.js';
import { startSshd, sshClient, type Sshd } from './sshd.js';
import { usePamWorld, snippet, type TestUser, type EnrolledUser } from './system.js';

const skip = missing({ commands: ['sshd', 'ssh', 'ssh-keygen', 'useradd', 'userdel'], root: true });
const LOCKED = /Too many failed attempts: locked until (\d{1,2} [A-Z][a-z]+ )?\d\d:\d\d/;

describe.skipIf(skip)(`sshd with idv${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const pam = usePamWorld({ maxAttempts: 3, prompts: 3, selfUnlock: false });
  const { cleanup, person } = pam;

  async function sshd(kind: 'publickey', os: TestUser, extra = ''): Promise<Sshd> {
    const server = await startSshd({
      pamService: snippet(`debian/sshd-${kind}-code`, pam.world.agent.socket, extra),
      configName: `sshd_config-${kind}-code.conf`,
      user: os,
    });
    cleanup.add(() => server.stop());
    return server;
  }

  /** One ssh connection typing `code` at the prompt; resolves to its exit code and output. */
  async function login(
    server: Sshd,
    user: string,
    code: string,
  ): Promise<{ code: number; out: string }> {
    const s = sshClient(server, user, 'echo logged-in-as-$(id -un)');
    cleanup.add(() => s.kill());
    await s.answer(/Enter the verification code[^\n]*\r?\n(\([^)]*\) )?Password: $/, `${code}\r`);
    const exit = await s.exit();
    return { code: exit, out: s.output() };
  }

  describe('public key + code', () => {
    let os: TestUser;
    let idv: EnrolledUser;
    let server: Sshd;

    beforeAll(async () => {
      ({ os, idv } = await person());
      server = await sshd('publickey', os);
    });

    it('key and the right code log in and run the command', async () => {
      const r = await login(server, os.name, idv.code());
      expect(r.out).toContain(`logged-in-as-${os.name}`);
      expect(r.code).toBe(0);
    });

    it('with the server stopped, the cached user still logs in', async () => {
      await pam.world.server.stop();
      try {
        const r = await login(server, os.name, idv.code(1));
        expect(r.out).toContain(`logged-in-as-${os.name}`);
        expect(r.code).toBe(0);
      } finally {
        await pam.world.server.restart();
      }
    });

    it('with the agent stopped: refused (secure), allowed (safe)', async () => {
      await pam.world.agent.kill('SIGTERM');
      try {
        // --timeout 3: the helper waits for an agent that may be restarting, at most that long.
        server.setPam(snippet('debian/sshd-publickey-code', pam.world.agent.socket, '--timeout 3'));
        const secure = await login(server, os.name, idv.code());
        expect(secure.code).not.toBe(0);
        expect(secure.out).toContain(TEXT.unavailable);
        expect(secure.out).not.toContain('logged-in-as');
        server.setPam(
          snippet(
            'debian/sshd-publickey-code',
            pam.world.agent.socket,
            '--fail-mode safe --timeout 3',
          ),
        );
        const safe = await login(server, os.name, idv.wrong());
        expect(safe.out).toContain(TEXT.failOpen);
        expect(safe.out).toContain(`logged-in-as-${os.name}`);
        expect(safe.code).toBe(0);
      } finally {
        server.setPam(snippet('debian/sshd-publickey-code', pam.world.agent.socket));
        await pam.world.agent.restart();
      }
    });

    it('a wrong code is refused, and the policy attempts end in a lockout', async () => {
      const first = await login(server, os.name, idv.wrong());
      expect(first.code).not.toBe(0);
      expect(first.out).toContain('Wrong code, 2 attempts left');
      expect(first.out).not.toContain('logged-in-as');
      await login(server, os.name, idv.wrong());
      const third = await login(server, os.name, idv.wrong());
      expect(third.out).toMatch(LOCKED);
      const after = await login(server, os.name, idv.code());
      expect(after.code).not.toBe(0);
      expect(after.out).toMatch(LOCKED);
    });
  });
});
