/**
 * The RHEL password gate with the real Linux-PAM: RHEL's login runs `auth substack system-auth`,
 * and a substack's failure does not end the calling stack, so without the gate a wrong password
 * still reaches the code prompt and a stranger's wrong codes count towards the lockout. Here
 * `idv-agent pam enable` wires RHEL 9's login (tests/e2e/pamconfig-fixtures/rhel, its
 * system-auth with pam_unix `sufficient` and pam_deny) for each hook; the files are installed
 * under test service names of their own in /etc/pam.d and run by pamtester under a pty against a
 * real agent and server. What is asserted is what a person sees: no code prompt after a wrong
 * password, and an account that is not locked after more wrong passwords than maxAttempts.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GATE_SERVICE } from '../../agent/pamconfig/plan.js';
import { missing } from '../helpers/require.js';
import { MODULE, MODULE_REQUIREMENT } from './pam-module/paths.js';
import { PtySession } from './pty.js';
import { HELPER_COMMAND, installService, REPO, usePamWorld } from './system.js';

const skip = missing({
  commands: ['pamtester', 'useradd', 'userdel'],
  root: true,
  files: [MODULE_REQUIREMENT],
});
const FIXTURES = path.join(REPO, 'tests/e2e/pamconfig-fixtures/rhel');
const CODE_PROMPT = /Verification code \(authenticator app\): $/;
const MAX_ATTEMPTS = 2;

function agent(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((done) =>
    execFile(path.join(REPO, 'bin/idv-agent'), args, (err, stdout, stderr) =>
      done({ code: (err as { code?: number } | null)?.code ?? 0, out: stdout + stderr }),
    ),
  );
}

describe.skipIf(skip).each(['module', 'exec'])(
  `RHEL login behind the password gate, hook %s${skip ? ` (skipped: ${skip})` : ''}`,
  (hook) => {
    const pam = usePamWorld({ maxAttempts: MAX_ATTEMPTS, prompts: 1, selfUnlock: false });
    const { cleanup, person } = pam;

    /** RHEL's login as `pam enable` leaves it, with its system-auth and the gate, installed. */
    async function service(): Promise<string> {
      const tmp = mkdtempSync(path.join(tmpdir(), 'idv-gate-'));
      cleanup.add(() => rmSync(tmp, { recursive: true, force: true }));
      const pamDir = path.join(tmp, 'pam.d');
      mkdirSync(pamDir);
      for (const f of ['login', 'system-auth'])
        cpSync(path.join(FIXTURES, f), path.join(pamDir, f));
      const r = await agent([
        'pam',
        'enable',
        '--service',
        'login',
        '--hook',
        hook,
        '--module-path',
        MODULE,
        '--pam-dir',
        pamDir,
        '--backup-dir',
        path.join(tmp, 'backups'),
        '--helper',
        HELPER_COMMAND,
        '--socket',
        pam.world.agent.socket,
      ]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain('behind the password gate');
      // Only auth lines matter to `pamtester ... authenticate`; postlogin is not in the fixtures.
      const auth = (name: string): string =>
        readFileSync(path.join(pamDir, name), 'utf8')
          .split('\n')
          .filter((l) => /^\s*auth\s/.test(l) && !l.includes('postlogin'))
          .join('\n');
      const sysauth = installService('sysauth', `${auth('system-auth')}\n`);
      cleanup.add(() => sysauth.remove());
      const gate = installService('gate', `${auth(GATE_SERVICE)}\n`);
      cleanup.add(() => gate.remove());
      const login = installService(
        'gatelogin',
        `${auth('login')
          .replace(/\bsystem-auth\b/g, sysauth.name)
          .replace(
            new RegExp(`\\b${GATE_SERVICE}\\b`, 'g'),
            gate.name,
          )}\naccount required pam_permit.so\n`,
      );
      cleanup.add(() => login.remove());
      return login.name;
    }

    function pamtester(svc: string, user: string): PtySession {
      const s = PtySession.spawn('/bin/sh', [
        '-c',
        `pamtester -I tty=$(tty) ${svc} ${user} authenticate; echo "exit=$?"`,
      ]);
      cleanup.add(() => s.kill());
      return s;
    }

    it('a wrong password ends the login before the code; a stranger cannot lock the account', async () => {
      const { os, idv } = await person();
      const svc = await service();
      for (let i = 0; i <= MAX_ATTEMPTS; i++) {
        const s = pamtester(svc, os.name);
        await s.answer(/Password: $/, 'not-the-password\r');
        // Without the gate the code is asked here: a wrong one is typed, as a stranger would.
        await s.expect(/exit=\d|Verification code \(authenticator app\): $/, 30_000, s.mark);
        if (CODE_PROMPT.test(s.output())) await s.answer(CODE_PROMPT, `${idv.wrong()}\r`);
        await s.expect(/exit=1/, 30_000);
        expect(s.output()).not.toMatch(/Verification code/);
        expect(s.output()).not.toContain('successfully authenticated');
      }
      // The owner, with the right password and the right code, is still let in: nothing counted.
      const owner = pamtester(svc, os.name);
      await owner.answer(/Password: $/, `${os.password}\r`);
      await owner.answer(CODE_PROMPT, `${idv.code()}\r`);
      await owner.expect(/exit=0/, 30_000);
      expect(owner.output()).toContain('successfully authenticated');
    });

    it('the right password still asks for the code, and a wrong code still fails', async () => {
      const { os, idv } = await person();
      const svc = await service();
      const s = pamtester(svc, os.name);
      await s.answer(/Password: $/, `${os.password}\r`);
      await s.answer(CODE_PROMPT, `${idv.wrong()}\r`);
      await s.expect(/exit=1/, 30_000);
      expect(s.output()).toContain('Wrong code');
      expect(s.output()).not.toContain('successfully authenticated');
    });
  },
);
