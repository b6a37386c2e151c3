/**
 * The PAM environment cannot reach node. pam_exec hands the helper whatever the application or
 * pam_env put into the PAM environment; node obeys NODE_OPTIONS, the dynamic linker LD_PRELOAD,
 * `#!/usr/bin/env node` a PATH. Each trap is armed for real (tests/helpers/hostile-env.ts) and
 * shown to work on node started straight on the helper script — a wrong code gets in — and then
 * ./bin/idv-pam-helper, the launcher pam_exec runs, refuses the same wrong code and still lets
 * the right one in. The single executable's launcher is tested the same way in package-sea.test.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileEnv, type HostileEnv } from '../helpers/hostile-env.js';
import { HELPER_JS, pamEnv, startWorld, type EnrolledUser, type World } from './helper-world.js';

const LAUNCHER = resolve(import.meta.dirname, '../../bin/idv-pam-helper');

let world: World;
let alice: EnrolledUser;
let hostile: HostileEnv;

beforeAll(async () => {
  world = await startWorld({ maxAttempts: 50, prompts: 1 });
  alice = await world.enrolled('alice');
  hostile = hostileEnv();
});
afterAll(async () => {
  hostile?.remove();
  await world?.stop();
});

function run(
  bin: string,
  args: string[],
  env: Record<string, string>,
  stdin: string,
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((done, fail) => {
    const child = spawn(bin, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
    child.once('error', fail);
    child.once('close', (code) => done({ code, stdout }));
  });
}

const args = () => ['--authtok', '--socket', world.agent.socket];

describe('the helper and a hostile PAM environment', () => {
  it('the traps are armed: node started on the helper script lets a wrong code in', async () => {
    const only = (k: string) => ({ ...pamEnv('alice'), [k]: hostile.env[k] as string });
    const viaOptions = await run(
      process.execPath,
      [HELPER_JS, ...args()],
      only('NODE_OPTIONS'),
      alice.wrong(),
    );
    expect(viaOptions.code).toBe(0);
    if (hostile.preload) {
      const viaPreload = await run(
        process.execPath,
        [HELPER_JS, ...args()],
        only('LD_PRELOAD'),
        alice.wrong(),
      );
      expect(viaPreload.code).toBe(0);
    }
    // What `#!/usr/bin/env node` would find first on this PATH.
    const viaPath = await run(join(hostile.dir, 'node'), [HELPER_JS], only('PATH'), alice.wrong());
    expect(viaPath.code).toBe(0);
  });

  it('./bin/idv-pam-helper is the compiled launcher', () => {
    expect(readlinkSync(LAUNCHER)).toBe('../dist/idv-pam-helper');
    expect(existsSync(LAUNCHER)).toBe(true);
  });

  it('./bin/idv-pam-helper refuses a wrong code under every trap at once, and lets the right one in', async () => {
    const env = { ...pamEnv('alice'), ...hostile.env };
    const wrong = await run(LAUNCHER, args(), env, alice.wrong());
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/Wrong code/);
    // Nothing the variables asked for happened: no warnings file, no IDV_SOCKET fake agent.
    expect(existsSync(hostile.warningsFile)).toBe(false);
    const right = await run(LAUNCHER, args(), env, alice.code(1));
    expect(right.stdout).not.toMatch(/Wrong code/);
    expect(right.code).toBe(0);
  });
});
