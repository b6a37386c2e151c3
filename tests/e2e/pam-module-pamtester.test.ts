/**
 * pam_idv.so in the real Linux-PAM, pamtester as the application, under a pseudo-terminal: a
 * real local user types the password (pam_unix) and then the code (pam_idv.so talking to a real
 * idv-agent of a real idv-server), as a person would. What is asserted is what the person sees
 * and pamtester's verdict. A stand-in agent (tests/e2e/pam-module/fake-agent.ts) gives the
 * answers a real agent never gives.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { idvctl } from '../helpers/server.js';
import { startFakeAgent, type FakeConnection } from './pam-module/fake-agent.js';
import { MODULE, MODULE_REQUIREMENT } from './pam-module/paths.js';
import { PtySession } from './pty.js';
import { usePamWorld, installService } from './system.js';

const skip = missing({
  commands: ['pamtester', 'setpriv', 'useradd', 'userdel'],
  root: true,
  files: [MODULE_REQUIREMENT],
});

const PROMPT = /Verification code \(authenticator app\): $/;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A message line, then the prompt again. */
const after = (line: string): RegExp => new RegExp(`${escape(line)}\\r?\\n${PROMPT.source}`);

describe.skipIf(skip)(`pam_idv.so with pamtester${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const pam = usePamWorld({ maxAttempts: 5, prompts: 3, selfUnlock: false });
  const { cleanup, person } = pam;

  /** A service of the test's own: pam_unix, then the module with `options`. */
  function service(options: string, password = true): string {
    const lines = [
      ...(password ? ['auth required pam_unix.so'] : []),
      `auth required ${MODULE} ${options}`,
      'account required pam_permit.so',
    ];
    const s = installService('module', `${lines.join('\n')}\n`);
    cleanup.add(() => s.remove());
    return s.name;
  }

  function pamtester(svc: string, user: string, as = ''): PtySession {
    const s = PtySession.spawn('/bin/sh', [
      '-c',
      `${as}pamtester -I tty=$(tty) ${svc} ${user} authenticate; echo "exit=$?"`,
    ]);
    cleanup.add(() => s.kill());
    return s;
  }

  it('password, then the code: a typo costs nothing, a wrong code shows attempts left, the right code logs in', async () => {
    const { os, idv } = await person();
    const s = pamtester(service(`socket=${pam.world.agent.socket}`), os.name);
    await s.answer(/Password: $/, `${os.password}\r`);
    await s.answer(PROMPT, 'hello\r');
    await s.answer(after('That is not a 6-digit code'), `${idv.wrong()}\r`);
    // 4 left: the typo was refused by the module and never counted by the agent.
    await s.answer(after('Wrong code, 4 attempts left'), `${idv.code()}\r`);
    await s.expect(/exit=0/);
    expect(s.output()).toContain('successfully authenticated');
    expect(s.output()).not.toContain(idv.code());
  });

  it('a wrong password fails the login even with the right code (required: PAM asks on, to hide which failed)', async () => {
    const { os, idv } = await person();
    const s = pamtester(service(`socket=${pam.world.agent.socket}`), os.name);
    await s.answer(/Password: $/, 'not-the-password\r');
    await s.answer(PROMPT, `${idv.code()}\r`);
    await s.expect(/exit=1/);
    expect(s.output()).toContain('Authentication failure');
  });

  it('a replayed code is refused', async () => {
    const { os, idv } = await person();
    const svc = service(`socket=${pam.world.agent.socket}`);
    const code = idv.code();
    const first = pamtester(svc, os.name);
    await first.answer(/Password: $/, `${os.password}\r`);
    await first.answer(PROMPT, `${code}\r`);
    await first.expect(/exit=0/);
    const again = pamtester(svc, os.name);
    await again.answer(/Password: $/, `${os.password}\r`);
    await again.answer(PROMPT, `${code}\r`);
    await again.answer(
      after('This code was already used; wait for the next one (4 attempts left)'),
      `${idv.wrong()}\r`,
    );
    await again.answer(PROMPT, `${idv.wrong()}\r`);
    await again.expect(/exit=1/);
    expect(again.output()).toContain('Authentication failure');
  });

  it('three wrong codes end a login; once locked, the account is refused with the lock message', async () => {
    const { os, idv } = await person();
    const svc = service(`socket=${pam.world.agent.socket}`);
    const one = pamtester(svc, os.name);
    await one.answer(/Password: $/, `${os.password}\r`);
    for (let i = 0; i < 3; i++) await one.answer(PROMPT, `${idv.wrong()}\r`);
    await one.expect(/exit=1/);
    expect(one.output()).toContain('Wrong code, 2 attempts left');
    const two = pamtester(svc, os.name);
    await two.answer(/Password: $/, `${os.password}\r`);
    await two.answer(PROMPT, `${idv.wrong()}\r`);
    await two.answer(PROMPT, `${idv.wrong()}\r`);
    await two.expect(/exit=1/);
    // Locked: the phone's code no longer counts; only a helpdesk code is offered (issue 15).
    const three = pamtester(svc, os.name);
    await three.answer(/Password: $/, `${os.password}\r`);
    await three.answer(
      /Too many failed attempts: locked until[^\n]*\. A helpdesk code from your administrator works here\r?\n/,
      '',
    );
    await three.answer(PROMPT, `${idv.code()}\r`);
    await three.expect(/exit=1/);
    // Marked as idv's line: sudo follows it with "incorrect password attempts" (docs/pam.md).
    expect(three.output()).toMatch(/\nidv: Too many failed attempts: locked until \S+\r?\n/);
  });

  it('a helpdesk code, typed with its dashes, lets a locked-out user in through pam_idv.so once', async () => {
    const { os, idv } = await person();
    const svc = service(`socket=${pam.world.agent.socket}`);
    // maxAttempts is 5: two logins of wrong codes lock the user out.
    for (const wrong of [3, 2]) {
      const lock = pamtester(svc, os.name);
      await lock.answer(/Password: $/, `${os.password}\r`);
      for (let i = 0; i < wrong; i++) await lock.answer(PROMPT, `${idv.wrong()}\r`);
      await lock.expect(/exit=1/);
    }
    const issued = await idvctl(pam.world.server, [
      'user',
      'helpdesk-code',
      os.name,
      '--device',
      pam.world.agent.deviceId,
    ]);
    const { code } = issued.json as { code: string };
    expect(code).toMatch(/^\d{3}-\d{3}-\d{3}-\d{3}$/);
    const s = pamtester(svc, os.name);
    await s.answer(/Password: $/, `${os.password}\r`);
    await s.answer(after('A helpdesk code from your administrator works here'), `${code}\r`);
    await s.expect(/exit=0/);
    expect(s.output()).toContain('Helpdesk code accepted');
    expect(s.output()).toContain('successfully authenticated');
    const again = pamtester(svc, os.name);
    await again.answer(/Password: $/, `${os.password}\r`);
    await again.answer(PROMPT, `${code.replace(/-/g, ' ')}\r`);
    await again.answer(
      after('This helpdesk code was already used here; ask for a new one (4 attempts left)'),
      `${idv.wrong()}\r`,
    );
    await again.answer(PROMPT, `${idv.wrong()}\r`);
    await again.expect(/exit=1/);
  });

  it('agent down: refused; fail_mode=safe lets the login through, without a code prompt', async () => {
    const { os } = await person();
    const dir = mkdtempSync(path.join(tmpdir(), 'idv-no-agent-'));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const socket = path.join(dir, 'agent.sock');
    // It waits for an agent that may be restarting (at most timeout=, here 2 s), then refuses.
    const secure = pamtester(service(`socket=${socket} timeout=2`), os.name);
    await secure.answer(/Password: $/, `${os.password}\r`);
    await secure.expect(/exit=1/);
    expect(secure.output()).toMatch(
      /Waiting for the verification service\.\.\.[\s\S]*\nidv: Verification service unavailable\r?\n/,
    );
    const safe = pamtester(service(`socket=${socket} fail_mode=safe timeout=2`), os.name);
    await safe.answer(/Password: $/, `${os.password}\r`);
    await safe.expect(/exit=0/);
    expect(safe.output()).toContain('login allowed without a code (fail-mode safe)');
    expect(safe.output()).not.toContain('Verification code');
  });

  it('fail_mode=safe does not apply once the agent asked for a code: an agent gone mid-login refuses', async () => {
    const { os } = await person();
    const fake = await startFakeAgent(async (conn) => {
      await conn.line();
      conn.write('{"type":"prompt","prompts":3}\n');
      await conn.line(); // the verify: hang up instead of answering
    });
    cleanup.add(() => fake.stop());
    const s = pamtester(service(`socket=${fake.socket} fail_mode=safe`), os.name);
    await s.answer(/Password: $/, `${os.password}\r`);
    await s.answer(PROMPT, '123456\r');
    await s.expect(/exit=1/);
    expect(s.output()).toContain('Verification service unavailable');
    expect(s.output()).not.toContain('fail-mode safe');
  });

  it('an agent answering garbage is refused', async () => {
    const { os } = await person();
    const garbage = [
      '{"type":"skip","extra":1}\n', // a key the protocol does not have
      '{"type":"skip","message":5}\n', // a field of the wrong type
      `{"type":"skip","message":"${'x'.repeat(9000)}"}\n`, // longer than a reply may be
      '{"type":"ok"}\n', // success before any code was asked for
    ];
    const fake = await startFakeAgent(async (conn: FakeConnection, i) => {
      await conn.line();
      conn.write(garbage[i] ?? 'nonsense\n');
    });
    cleanup.add(() => fake.stop());
    const svc = service(`socket=${fake.socket}`);
    for (const _ of garbage) {
      const s = pamtester(svc, os.name);
      await s.answer(/Password: $/, `${os.password}\r`);
      await s.expect(/exit=1/);
      expect(s.output()).toContain('Verification service unavailable');
    }
    expect(fake.connections()).toBe(garbage.length);
  });

  it('an unknown or malformed option refuses the login without asking the agent', async () => {
    const { os } = await person();
    const fake = await startFakeAgent(async (conn) => {
      await conn.line();
      conn.write('{"type":"skip"}\n');
    });
    cleanup.add(() => fake.stop());
    for (const options of [
      `socket=${fake.socket} colour=blue`,
      `socket=${fake.socket} timeout=0`,
      `socket=${fake.socket} fail_mode=open`,
      `socket=relative.sock`,
      `socket=${fake.socket} debug debug`,
    ]) {
      const s = pamtester(service(options), os.name);
      await s.answer(/Password: $/, `${os.password}\r`);
      await s.expect(/exit=1/);
      expect(s.output()).not.toContain('successfully authenticated');
    }
    expect(fake.connections()).toBe(0);
    // The same service with valid options logs in (the stand-in answers skip).
    const ok = pamtester(
      service(`socket=${fake.socket} timeout=30 fail_mode=secure debug`),
      os.name,
    );
    await ok.answer(/Password: $/, `${os.password}\r`);
    await ok.expect(/exit=0/);
  }, 120_000); // six logins, five of them through pam_unix's delay after a failure

  it('a program that may not open the socket is refused, even with fail_mode=safe', async () => {
    const { os } = await person();
    // The real agent's socket is root's (0700 folder, 0600 socket): the user gets EACCES.
    const s = pamtester(
      service(`socket=${pam.world.agent.socket} fail_mode=safe`, false),
      os.name,
      `setpriv --reuid ${os.uid} --regid ${os.uid} --clear-groups `,
    );
    await s.expect(/exit=1/);
    expect(s.output()).toContain('this program may not ask it (permission denied)');
    expect(s.output()).not.toContain('fail-mode safe');
  });
});
