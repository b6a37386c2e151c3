/**
 * A real pam_exec run with a hostile PAM environment: pam_env puts NODE_OPTIONS (requiring a
 * script that exits 0), LD_PRELOAD (a library whose constructor exits 0), a PATH to a fake node
 * and the other NODE_* variables into the PAM environment, as an application or a user's
 * ~/.pam_environment could, and pamtester runs the stack. pam_env fills the environment at
 * setcred, so pamtester runs setcred, then authenticate on the same handle (as an application
 * that authenticates again inside a session does). Started straight as
 * `node dist/idv-pam-helper.cjs`, the helper lets a wrong code in (the trap works through PAM);
 * through ./bin/idv-pam-helper, the launcher, the wrong code is refused and the right one passes.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileEnv, type HostileEnv } from '../helpers/hostile-env.js';
import { missing } from '../helpers/require.js';
import {
  HELPER_JS,
  startWorld,
  type EnrolledUser,
  type World,
} from '../integration/helper-world.js';
import { Cleanup, HELPER_COMMAND, installService, suffix } from './system.js';

const skip = missing({ commands: ['pamtester', 'cc'], root: true });

describe.skipIf(skip)(
  `pam_exec with a hostile PAM environment${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let world: World;
    let user: EnrolledUser;
    let hostile: HostileEnv;
    const cleanup = new Cleanup();

    beforeAll(async () => {
      world = await startWorld({ maxAttempts: 50, prompts: 1 });
      cleanup.add(() => world.stop());
      // pamtester needs no account for a stack of pam_env and pam_exec: any valid name will do.
      user = await world.enrolled(`idvenv${suffix()}`);
      hostile = hostileEnv();
      cleanup.add(() => hostile.remove());
    });
    afterAll(() => cleanup.run());

    /** A service: pam_env from a file with the hostile variables, then the helper as shipped. */
    function service(helper: string): string {
      const envfile = join(hostile.dir, `pam-${suffix()}.env`);
      writeFileSync(
        envfile,
        Object.entries(hostile.env)
          .map(([k, v]) => `${k}=${v}\n`)
          .join(''),
      );
      const s = installService(
        'hostile-env',
        [
          `auth required pam_env.so readenv=1 envfile=${envfile} user_readenv=0`,
          `auth requisite pam_exec.so quiet stdout expose_authtok ${helper} --authtok --socket ${world.agent.socket}`,
          'auth optional pam_permit.so',
          'account required pam_permit.so',
          '',
        ].join('\n'),
      );
      cleanup.add(() => s.remove());
      return s.name;
    }

    /** setcred (pam_env sets the variables), then authenticate with the code on stdin (pam_exec
     *  asks for it with its own `Password: `). */
    function login(svc: string, code: string): { status: number | null; out: string } {
      const r = spawnSync('pamtester', [svc, user.name, 'setcred', 'authenticate'], {
        input: `${code}\n`,
        encoding: 'utf8',
        timeout: 30_000,
        env: { PATH: '/usr/bin:/bin' },
      });
      return { status: r.status, out: `${r.stdout}${r.stderr}` };
    }

    it('node started on the helper script obeys the PAM environment: a wrong code gets in', () => {
      const r = login(service(`${process.execPath} ${HELPER_JS}`), user.wrong());
      expect(r.out).toContain('successfully authenticated');
      expect(r.status).toBe(0);
    });

    it('./bin/idv-pam-helper refuses the wrong code and lets the right one in', () => {
      const svc = service(HELPER_COMMAND);
      const wrong = login(svc, user.wrong());
      expect(wrong.out).toMatch(/Wrong code/);
      expect(wrong.out).not.toContain('successfully authenticated');
      expect(wrong.status).not.toBe(0);
      const right = login(svc, user.code(1));
      expect(right.out).toContain('successfully authenticated');
      expect(right.status).toBe(0);
    });
  },
);
