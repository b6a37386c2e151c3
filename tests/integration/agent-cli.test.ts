/**
 * The idv-agent admin commands as an administrator meets them: unlock says what it did (or that
 * there was nothing to do), status fails when the agent is not running, doctor treats an
 * unreachable server as the offline mode it is, and every command run as a user who may not
 * read the root-only files says that it needs root and which path it could not read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TotpParams } from '../../protocol/messages.js';
import {
  addEnrolledUser,
  askAgent,
  begin,
  codeFor,
  startAgent,
  waitConnected,
  type TestAgent,
} from '../helpers/agent.js';
import { expectBuildInfo } from '../helpers/build-info.js';
import { missing } from '../helpers/require.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { NOBODY, unprivilegedAgent, type UnprivilegedAgent } from '../helpers/unprivileged.js';

let server: TestServer;
let agent: TestAgent;
let alice: TotpParams;
let pamDir: string;

const wrong = (t: TotpParams) => ({
  type: 'verify',
  code: codeFor(t) === '000000' ? '111111' : '000000',
});

beforeAll(async () => {
  server = await startServer();
  ({ totp: alice } = await addEnrolledUser(server, 'alice'));
  agent = await startAgent({
    server,
    policy: { maxAttempts: 2, lockoutSeconds: 0, prompts: 3, selfUnlock: false },
  });
  await waitConnected(agent, true);
  pamDir = mkdtempSync(join(tmpdir(), 'idv-cli-pamd-'));
});
afterAll(async () => {
  await agent?.stop();
  await server?.stop();
  if (pamDir) rmSync(pamDir, { recursive: true, force: true });
});

describe('idv-agent unlock says what it did', () => {
  it('a user who is not locked: "is not locked", and the failed attempts it cleared', async () => {
    const none = await agent.cli(['unlock', 'alice']);
    expect(none.code).toBe(0);
    expect(none.stdout.trim()).toBe('alice is not locked');

    await askAgent(agent.socket, [begin('alice'), wrong(alice)]);
    const one = await agent.cli(['unlock', 'alice']);
    expect(one.stdout.trim()).toBe('alice is not locked; 1 failed attempt cleared');
  });

  it('a locked user: "unlocked", and the right code works again', async () => {
    const [, , locked] = await askAgent(agent.socket, [begin('alice'), wrong(alice), wrong(alice)]);
    expect(locked).toMatchObject({ type: 'locked' });
    const r = await agent.cli(['unlock', 'alice', '--json']);
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ user: 'alice', wasLocked: true, failures: 2 });
    const [, ok] = await askAgent(agent.socket, [
      begin('alice'),
      { type: 'verify', code: codeFor(alice) },
    ]);
    expect(ok).toEqual({ type: 'ok' });
  });

  it('a name idv does not know: says so, exit 1, and records nothing', async () => {
    const r = await agent.cli(['unlock', 'nobody']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(
      'idv-agent: nobody is not a user idv knows on this machine (not in the cache): nothing to unlock',
    );
    const j = await agent.cli(['unlock', 'nobody', '--json']);
    expect(j.json).toMatchObject({ error: { code: 'USER_NOT_FOUND' } });
    expect(agent.logs()).not.toMatch(/"user":"nobody".*local unlock/);
  });
});

describe('idv-agent doctor with the server unreachable (offline mode)', () => {
  it('warns, with the age of the cache and how long it stays valid, and exits 0', async () => {
    await server.stop();
    try {
      await waitConnected(agent, false);
      const r = await agent.cli(['doctor', '--json', '--pam-dir', pamDir]);
      const report = r.json as {
        ok: boolean;
        checks: { name: string; status: string; detail: string }[];
      };
      const by = (n: string) => report.checks.find((c) => c.name === n);
      expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
      expect(r.code).toBe(0);
      expect(by('clock offset to the server')).toMatchObject({
        status: 'warn',
        detail: expect.stringMatching(
          /offline mode, logins are decided from the cache \(cache \d+s old, valid for (29d 23h|30d) more\)/,
        ),
      });
      expect(by('cache age')?.detail).toMatch(/valid for (29d 23h|30d) more \(offlineMaxAge 30d/);
      expect(by('live sync')?.status).toBe('warn');
    } finally {
      await server.restart();
    }
    await waitConnected(agent, true);
  });
});

const noSetpriv = missing({ commands: ['setpriv'], root: true });

describe.skipIf(noSetpriv)(
  `idv-agent as a user who may not read the agent's files${noSetpriv ? ` (skipped: ${noSetpriv})` : ''}`,
  () => {
    let copy: UnprivilegedAgent;
    beforeAll(async () => {
      copy = await unprivilegedAgent();
    }, 60_000);
    afterAll(() => copy?.remove());
    const as = (args: string[]) =>
      copy.run([...args, '--data-dir', agent.dataDir, '--socket', agent.socket]);

    it('unlock and status: "needs root" with the socket path, exit 1, nothing unlocked', async () => {
      for (const args of [['unlock', 'alice'], ['status']]) {
        const r = await as(args);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr.trim()).toBe(
          `idv-agent: needs root: permission denied on ${agent.socket} as uid ${NOBODY} (run it with sudo)`,
        );
        expect(r.stdout).toBe('');
      }
      const j = await as(['status', '--json']);
      expect(j.json).toMatchObject({ error: { code: 'FORBIDDEN' } });
    });

    it('doctor: says which paths it could not read (not "missing"), exit 1', async () => {
      const r = await as(['doctor', '--pam-dir', pamDir]);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain('is missing');
      expect(r.stdout).toContain(
        `FAIL  data directory: cannot read ${agent.dataDir} as uid ${NOBODY} (permission denied): run doctor as root`,
      );
      expect(r.stdout).toMatch(/^FAIL {2}agent answers: needs root: permission denied on /m);
      expect(r.stdout).toMatch(/^FAIL {2}cache integrity: cannot read .*cache\.db as uid/m);
    });
  },
);

describe('idv-agent status says what runs', () => {
  it('the running agent: its version, commit and Node.js in --json and in the text', async () => {
    const j = await agent.cli(['status', '--json']);
    expect(j.code).toBe(0);
    expectBuildInfo(j.json);
    const { version, commit, node } = j.json as Record<string, string>;
    const r = await agent.cli(['status']);
    expect(r.stdout).toContain(`\nversion:    ${version} (${commit}, node ${node})\n`);
  });
});

describe('idv-agent status with the agent stopped', () => {
  it('exits 1 with one clear line, shows the cache, and --json gives the error object', async () => {
    await agent.kill('SIGTERM');
    const r = await agent.cli(['status']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^running: {4}no$/m);
    expect(r.stdout).toMatch(/^users: {6}1$/m);
    expect(r.stderr.trim()).toBe(
      `idv-agent: the agent is not running on ${agent.socket} (ENOENT): the figures above are from the cache`,
    );
    const j = await agent.cli(['status', '--json']);
    expect(j.code).toBe(1);
    expect(j.json).toMatchObject({
      error: { code: 'AGENT_UNAVAILABLE' },
      running: false,
      users: 1,
    });
  });

  it('unlock works on the cache directly, with the same messages', async () => {
    expect((await agent.cli(['unlock', 'alice'])).stdout.trim()).toBe('alice is not locked');
    const r = await agent.cli(['unlock', 'nobody']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nobody is not a user idv knows on this machine');
  });
});
