/**
 * The shipped Debian PAM snippets for sudo, su and login, run by the real Linux-PAM with the real
 * pam_exec, pamtester as the PAM application, under a pseudo-terminal: a person types the
 * password and then the code at "Verification code (authenticator app):". sudo and su are setuid root; pamtester is
 * run with the person's real uid and root's effective uid (setpriv --ruid) to be in the same
 * situation (pam_rootok sees the person, pam_exec's seteuid matters).
 */
import { describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { PtySession } from './pty.js';
import { usePamWorld, installService, snippet } from './system.js';

const skip = missing({ commands: ['pamtester', 'setpriv', 'useradd', 'userdel'], root: true });

describe.skipIf(skip)(
  `PAM terminal path with pamtester${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    const pam = usePamWorld({ maxAttempts: 5, prompts: 3 });
    const { cleanup, person } = pam;

    function service(name: string, extra = ''): string {
      const s = installService(
        name.replace(/\W/g, ''),
        snippet(`debian/${name}`, pam.world.agent.socket, extra),
      );
      cleanup.add(() => s.remove());
      return s.name;
    }

    /** pamtester on this pty, PAM_TTY = the pty, as a setuid program run by `uid` would be. */
    function pamtester(svc: string, user: string, uid: number | null): PtySession {
      const as = uid === null ? '' : `setpriv --ruid ${uid} `;
      const s = PtySession.spawn('/bin/sh', [
        '-c',
        `${as}pamtester -I tty=$(tty) ${svc} ${user} authenticate; echo "exit=$?"; echo "tty: $(stty -a | tr ' ;' '\\n\\n' | grep -x -e -echo -e echo -e -icanon -e icanon | tr '\\n' ' ')."`,
      ]);
      cleanup.add(() => s.kill());
      return s;
    }

    it('sudo: password, then the code on the terminal; a typo and a wrong code may be retried', async () => {
      const { os, idv } = await person();
      const s = pamtester(service('sudo'), os.name, os.uid);
      await s.answer(/Password: $/, `${os.password}\r`);
      await s.answer(/Verification code \(authenticator app\): $/, 'hello\r');
      await s.answer(
        /That is not a 6-digit code\r?\nVerification code \(authenticator app\): $/,
        `${idv.wrong()}\r`,
      );
      await s.answer(
        /Wrong code, 4 attempts left\r?\nVerification code \(authenticator app\): $/,
        `${idv.code()}\r`,
      );
      await s.expect(/exit=0/);
      expect(s.output()).toContain('successfully authenticated');
      // Echo was off while the code was typed, and is back on afterwards.
      expect(s.output()).not.toContain(idv.code());
      await s.expect(/tty: icanon echo \./);
    });

    it('sudo: a wrong password never reaches the code prompt', async () => {
      const { os } = await person();
      const s = pamtester(service('sudo'), os.name, os.uid);
      await s.answer(/Password: $/, 'not-the-password\r');
      await s.expect(/exit=1/);
      expect(s.output()).not.toContain('Verification code');
    });

    it('sudo: three wrong codes end the login', async () => {
      const { os, idv } = await person();
      const s = pamtester(service('sudo'), os.name, os.uid);
      await s.answer(/Password: $/, `${os.password}\r`);
      for (let i = 0; i < 3; i++)
        await s.answer(/Verification code \(authenticator app\): $/, `${idv.wrong()}\r`);
      await s.expect(/exit=1/);
      expect(s.output()).toContain('Wrong code, 2 attempts left');
      expect(s.output()).not.toContain('successfully authenticated');
    });

    it('su: the person (not root) is asked for password and code', async () => {
      const { os, idv } = await person();
      const s = pamtester(service('su'), os.name, os.uid);
      await s.answer(/Password: $/, `${os.password}\r`);
      await s.answer(/Verification code \(authenticator app\): $/, `${idv.code()}\r`);
      await s.expect(/exit=0/);
    });

    it('login: password, then the code on the console', async () => {
      const { os, idv } = await person();
      const s = pamtester(service('login'), os.name, null);
      await s.answer(/Password: $/, `${os.password}\r`);
      await s.answer(/Verification code \(authenticator app\): $/, `${idv.code()}\r`);
      await s.expect(/exit=0/, 20_000);
    });

    it('Ctrl-C at the code prompt refuses the login and restores the terminal', async () => {
      const { os } = await person();
      const s = pamtester(service('sudo'), os.name, os.uid);
      await s.answer(/Password: $/, `${os.password}\r`);
      await s.answer(/Verification code \(authenticator app\): $/, '12\x03');
      await s.expect(/exit=1/);
      expect(s.output()).toContain('Verification cancelled');
      await s.expect(/tty: icanon echo \./);
    });

    it('the stdin path (expose_authtok, the sshd snippet): one code, right or wrong', async () => {
      const { os, idv } = await person();
      const svc = service('sshd-publickey-code');
      const wrong = pamtester(svc, os.name, null);
      await wrong.answer(/Enter the verification code[^\n]*\r?\nPassword: $/, `${idv.wrong()}\r`);
      await wrong.expect(/exit=1/);
      expect(wrong.output()).toContain('Wrong code, 4 attempts left');
      const right = pamtester(svc, os.name, null);
      await right.answer(/Password: $/, `${idv.code()}\r`);
      await right.expect(/exit=0/);
    });

    it('password + code in one stack cannot work: pam_unix reuses the code as the password', async () => {
      // Why packaging/pam ships no "sshd password + code" file (docs/pam.md): Linux-PAM keeps one
      // auth token. With the code asked first, pam_unix takes that token as the password without
      // asking; with the password first, pam_exec hands the helper the password.
      const { os, idv } = await person();
      const helperLine = snippet('debian/sshd-publickey-code', pam.world.agent.socket)
        .split('\n')
        .find((l) => l.includes('expose_authtok'));
      const text = [
        'auth optional pam_echo.so Enter the code, then your password.',
        helperLine,
        '@include common-auth',
        'account required pam_permit.so',
      ].join('\n');
      const s = installService('pwcode', `${text}\n`);
      cleanup.add(() => s.remove());
      const t = pamtester(s.name, os.name, null);
      await t.answer(/Password: $/, `${idv.code()}\r`);
      await t.expect(/exit=1/);
      // Only one Password: prompt was ever shown: the password was never asked for.
      expect(t.output().match(/Password: /g)).toHaveLength(1);
    });
  },
);
