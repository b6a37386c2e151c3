// `idv-agent pam enable --break-glass USER`, checked with the real Linux-PAM through pamtester,
// for both hooks (pam_exec + helper, and pam_idv.so): with the agent down, the break-glass
// account still authenticates, anyone else is refused. The stack is the one `pam enable` writes
// for sshd (key + code: no password step), installed under a test service name of its own in
// /etc/pam.d and removed afterwards.
import { execFile, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing, REQUIRE_E2E } from '../helpers/require.js';
import { MODULE } from './system.js';

const skip = missing({ commands: ['pamtester'], root: true });
const HELPER = resolve('bin/idv-pam-helper');
const HOOKS = [
  { name: 'exec', args: ['--hook', 'exec'] },
  { name: 'module', args: ['--module-path', MODULE] },
];

function agent(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((done) =>
    execFile(resolve('bin/idv-agent'), args, (err, stdout, stderr) =>
      done({ code: (err as { code?: number } | null)?.code ?? 0, out: stdout + stderr }),
    ),
  );
}

function pamtester(
  service: string,
  user: string,
  input: string,
): { status: number | null; out: string } {
  const r = spawnSync('pamtester', [service, user, 'authenticate'], {
    input,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(skip !== null || (!existsSync(MODULE) && !REQUIRE_E2E)).each(HOOKS)(
  `break-glass with real PAM, hook $name${skip ? ` (skipped: ${skip})` : ''}`,
  ({ args }) => {
    let tmp: string;
    let service: string;
    beforeAll(async () => {
      tmp = mkdtempSync(join(tmpdir(), 'idv-breakglass-'));
      const pamDir = join(tmp, 'pam.d');
      mkdirSync(pamDir);
      cpSync(resolve('tests/e2e/pamconfig-fixtures/debian'), pamDir, { recursive: true });
      const conf = join(tmp, 'sshd_config');
      writeFileSync(
        conf,
        'UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n',
      );
      const r = await agent([
        'pam',
        'enable',
        '--service',
        'sshd',
        '--pam-dir',
        pamDir,
        '--backup-dir',
        join(tmp, 'b'),
        '--helper',
        HELPER,
        '--socket',
        join(tmp, 'no-agent.sock'),
        '--sshd-config',
        conf,
        '--break-glass',
        'root',
        ...args,
      ]);
      expect(r.code, r.out).toBe(0);
      // Only the auth part matters to `pamtester ... authenticate`.
      const auth = readFileSync(join(pamDir, 'sshd'), 'utf8')
        .split('\n')
        .filter((l) => /^(#|auth\b|$)/.test(l))
        .join('\n');
      service = `idv-test-breakglass-${process.pid}`;
      writeFileSync(join('/etc/pam.d', service), `${auth}\n`);
    });

    afterAll(() => {
      if (service) rmSync(join('/etc/pam.d', service), { force: true });
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it('lets the break-glass account in with the agent down, without asking for a code', () => {
      const r = pamtester(service, 'root', '');
      expect(r.out).toContain('successfully authenticated');
      expect(r.out).not.toContain('verification code');
      expect(r.status).toBe(0);
    });

    it('refuses everyone else with the agent down (fail closed)', () => {
      const r = pamtester(service, 'nobody', '123456\n');
      expect(r.out).not.toContain('successfully authenticated');
      expect(r.status).not.toBe(0);
    });
  },
);
