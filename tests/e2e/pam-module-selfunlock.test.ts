/**
 * Self-unlock through pam_idv.so in the real Linux-PAM (pamtester under a pseudo-terminal, a real
 * local user, a real agent and server): locked out, two wrong codes keep the lock; the code of
 * this step and the next one, typed in one login, end it.
 */
import { describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { MODULE, MODULE_REQUIREMENT } from './pam-module/paths.js';
import { PtySession } from './pty.js';
import { usePamWorld, installService } from './system.js';

const skip = missing({
  commands: ['pamtester', 'setpriv', 'useradd', 'userdel'],
  root: true,
  files: [MODULE_REQUIREMENT],
});

const PROMPT = /Verification code \(authenticator app\): $/;

describe.skipIf(skip)(`self-unlock with pam_idv.so${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const pam = usePamWorld({ maxAttempts: 3, prompts: 3, selfUnlock: true });
  const { cleanup, person } = pam;

  function pamtester(user: string): PtySession {
    const lines = [
      'auth required pam_unix.so',
      `auth required ${MODULE} socket=${pam.world.agent.socket}`,
      'account required pam_permit.so',
    ];
    const svc = installService('selfunlock', `${lines.join('\n')}\n`);
    cleanup.add(() => svc.remove());
    const s = PtySession.spawn('/bin/sh', [
      '-c',
      `pamtester -I tty=$(tty) ${svc.name} ${user} authenticate; echo "exit=$?"`,
    ]);
    cleanup.add(() => s.kill());
    return s;
  }

  it('locked out: wrong codes keep the lock, two consecutive codes end it', async () => {
    const { os, idv } = await person();
    const lock = pamtester(os.name);
    await lock.answer(/Password: $/, `${os.password}\r`);
    for (let i = 0; i < 3; i++) await lock.answer(PROMPT, `${idv.wrong()}\r`);
    await lock.expect(/exit=1/);
    expect(lock.output()).toMatch(/Too many failed attempts: locked until/);

    // The brute-forcer: two wrong codes in a row at the self-unlock prompt.
    const guess = pamtester(os.name);
    await guess.answer(/Password: $/, `${os.password}\r`);
    await guess.answer(
      /type two consecutive codes from your app[\s\S]*Verification code/,
      `${idv.wrong()}\r`,
    );
    await guess.answer(PROMPT, `${idv.wrong()}\r`);
    await guess.answer(PROMPT, 'x\r');
    await guess.expect(/exit=\d/);
    expect(guess.output()).not.toMatch(/exit=0/);

    // The phone: this step's code, then the next one, in one login.
    const phone = pamtester(os.name);
    await phone.answer(/Password: $/, `${os.password}\r`);
    await phone.answer(PROMPT, `${idv.code(0)}\r`);
    await phone.answer(
      /type the next code when your app shows it[\s\S]*Verification code/,
      `${idv.code(1)}\r`,
    );
    await phone.expect(/exit=0/);
    expect(phone.output()).toContain('Two consecutive codes accepted: the lockout has ended');
  });
});
