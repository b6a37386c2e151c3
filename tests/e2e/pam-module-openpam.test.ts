/**
 * pam_idv.so compiled against OpenPAM (the PAM library of macOS and FreeBSD, built from
 * shared/vendor/openpam, cached per tarball in node_modules/.cache/idv-openpam/) and loaded by
 * OpenPAM into the tiny test client, a policy file path as the service name. The core cases
 * against a real agent (right code, wrong codes, agent down) and a stand-in answering garbage;
 * then the fuzz run through OpenPAM under ASan, smaller than the Linux-PAM one.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { startWorld, type World } from '../integration/helper-world.js';
import {
  buildClient,
  buildModule,
  openpamLibrary,
  openpamVendor,
  type PamLibrary,
  SAFE_CACHE,
} from './pam-module/build.js';
import { startFakeAgent } from './pam-module/fake-agent.js';
import { fuzzModule, runClient } from './pam-module/fuzz.js';
import { MODULE_REQUIREMENT } from './pam-module/paths.js';
import { Cleanup, suffix } from './system.js';

const vendor = openpamVendor();
const skip = missing({
  commands: ['cc', 'make', 'autoconf', 'automake', 'libtoolize'],
  root: true,
  files: [
    MODULE_REQUIREMENT,
    {
      path: vendor ?? '../shared/vendor/openpam',
      hint: 'the vendored OpenPAM source beside the checkout',
    },
  ],
});
const FUZZ_COUNT = Math.ceil(Number(process.env.IDV_FUZZ_COUNT ?? 1500) / 3);

describe.skipIf(skip)(`pam_idv.so under OpenPAM${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const cleanup = new Cleanup();
  let world: World;
  let lib: PamLibrary;
  let work: string;
  let module: string;
  let client: string;

  beforeAll(async () => {
    lib = openpamLibrary();
    const cache = SAFE_CACHE;
    mkdirSync(cache, { recursive: true, mode: 0o755 });
    // Not under /tmp: OpenPAM refuses a module in a folder that others may write to.
    work = mkdtempSync(path.join(cache, 'idv-openpam-test-'));
    cleanup.add(() => rmSync(work, { recursive: true, force: true }));
    module = buildModule(path.join(work, 'pam_idv.so'), lib);
    client = buildClient(path.join(work, 'pam_client'), lib);
    world = await startWorld({ maxAttempts: 5, prompts: 3 });
    cleanup.add(() => world.stop());
  }, 300_000);
  afterAll(() => cleanup.run());

  /** A policy file of OpenPAM's own syntax; its path is the service name. */
  function policy(options: string): string {
    const file = path.join(work, `idv-test-${suffix()}`);
    writeFileSync(file, `auth required ${module} ${options}\n`, { mode: 0o644 });
    return file;
  }

  async function login(service: string, user: string, answers: string[]) {
    const run = await runClient(client, lib, service, 1, 60_000, user, answers);
    expect(run.stderr).toBe('');
    return run;
  }

  it('the client and the module run on OpenPAM, not Linux-PAM', () => {
    for (const file of [client, module])
      expect(execFileSync('ldd', [file], { encoding: 'utf8' })).toMatch(
        /libpam\.so\.2 => .*idv-tests\/openpam/,
      );
  });

  it('right code: logged in; wrong codes: refused with attempts left', async () => {
    const name = `idvop${suffix()}`;
    const idv = await world.enrolled(name);
    const svc = policy(`socket=${world.agent.socket}`);
    const right = await login(svc, name, [idv.code()]);
    expect(right.stdout).toContain('prompt: Verification code (authenticator app): ');
    expect(right.stdout).toMatch(/result 0 0 PAM_SUCCESS/);
    const wrong = await login(svc, name, [idv.wrong(), idv.wrong(), idv.wrong()]);
    expect(wrong.stdout).toContain('error: Wrong code, 4 attempts left');
    expect(wrong.stdout).toContain('error: Wrong code, 2 attempts left');
    expect(wrong.stdout).toMatch(/result 0 \d+ PAM_AUTH_ERR/);
  });

  it('agent down: refused; fail_mode=safe: allowed without a prompt', async () => {
    const socket = path.join(work, 'no-agent.sock');
    // It waits for an agent that may be restarting (at most timeout=, here 2 s), then refuses.
    const down = await login(policy(`socket=${socket} timeout=2`), 'someone', ['123456']);
    expect(down.stdout).toContain('info: Waiting for the verification service...');
    expect(down.stdout).toContain('error: idv: Verification service unavailable');
    expect(down.stdout).toMatch(/result 0 \d+ PAM_AUTH_ERR/);
    const safe = await login(policy(`socket=${socket} fail_mode=safe timeout=2`), 'someone', [
      '123456',
    ]);
    expect(safe.stdout).toContain('fail-mode safe');
    expect(safe.stdout).not.toContain('prompt:');
    expect(safe.stdout).toMatch(/result 0 0 PAM_SUCCESS/);
  });

  it('an agent answering garbage, or an unknown option: refused', async () => {
    const fake = await startFakeAgent(async (conn) => {
      await conn.line();
      conn.write('{"type":"skip","message":"hi","extra":true}\n');
    });
    cleanup.add(() => fake.stop());
    const garbage = await login(policy(`socket=${fake.socket}`), 'someone', ['123456']);
    expect(garbage.stdout).toMatch(/result 0 \d+ PAM_AUTH_ERR/);
    const option = await login(policy(`socket=${fake.socket} colour=blue`), 'someone', ['123456']);
    expect(option.stdout).toMatch(/result 0 \d+ PAM_AUTH_ERR/);
    expect(fake.connections()).toBe(1);
  });

  it(`${FUZZ_COUNT} random replies under ASan through OpenPAM: no crash, no leak, no bypass`, async () => {
    const report = await fuzzModule({
      count: FUZZ_COUNT,
      seed: Date.now() % 100_000,
      pam: 'openpam',
    });
    console.log(`pam_idv.so fuzz (OpenPAM): ${JSON.stringify(report)}`);
    expect(report.examples).toEqual([]);
    // clean: no crash, hang, bypass, sanitizer report, protocol error or refused control.
    expect(report.clean).toBe(true);
  }, 600_000);
});
