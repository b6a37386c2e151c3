/**
 * Tokens off the command line: `--token-file F` for idvctl (and IDV_TOKEN) and for
 * `idv-agent register`. A token given as an argument still works but warns on stderr (every
 * user sees arguments in ps); a token file others may read works with a warning; both forms at
 * once, or an unreadable, empty or multi-line file, are wrong usage (exit 2) that names the file.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BIN } from '../helpers/agent.js';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let dir: string;

beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'idv-token-file-'));
});
afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function tokenFile(name: string, content: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, content, { mode });
  chmodSync(p, mode);
  return p;
}

/** idvctl with a clean IDV_TOKEN, so only the given form supplies a token. */
function ctl(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(IDVCTL_BIN, ['--server', server.url, '--json', ...args], { IDV_TOKEN: '', ...env });
}

describe('idvctl tokens', () => {
  it('reads --token-file (a final newline is fine) and IDV_TOKEN without a warning', async () => {
    const f = tokenFile('admin', `${server.adminToken}\n`);
    const viaFile = await ctl(['--token-file', f, 'user', 'list']);
    expect(viaFile.code).toBe(0);
    expect(viaFile.stderr).toBe('');
    const viaEnv = await ctl(['user', 'list'], { IDV_TOKEN: server.adminToken });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stderr).toBe('');
  });

  it('still takes --token, with a warning that names the safer forms and not the token', async () => {
    const r = await ctl([`--token=${server.adminToken}`, 'user', 'list']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('idvctl: warning: a token given with --token is visible');
    expect(r.stderr).toContain('--token-file FILE or IDV_TOKEN');
    expect(r.stderr).not.toContain(server.adminToken);
  });

  it('warns about a token file others can read, and still uses it', async () => {
    const f = tokenFile('open', server.adminToken, 0o644);
    const r = await ctl(['--token-file', f, 'user', 'list']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`the token file ${f} can be read by other users (mode 644)`);
  });

  it('refuses both forms at once, and missing, empty or multi-line files, changing nothing', async () => {
    const good = tokenFile('good', server.adminToken);
    const cases: [string[], RegExp][] = [
      [['--token', server.adminToken, '--token-file', good], /not both/],
      [['--token-file', join(dir, 'absent')], /cannot read the token file .*absent \(ENOENT\)/],
      [['--token-file', tokenFile('empty', '\n')], /token file .*empty is empty/],
      [['--token-file', tokenFile('two', `${server.adminToken}\nmore\n`)], /alone, on one line/],
      [['--token-file', dir], /not a regular file/],
    ];
    for (const [flags, message] of cases) {
      const r = await ctl([...flags, 'user', 'add', 'never-added']);
      expect(r.code, flags.join(' ')).toBe(2);
      expect((r.json as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'USAGE',
        message: expect.stringMatching(message),
      });
      expect(r.stdout + r.stderr).not.toContain(server.adminToken);
    }
    const users = (await idvctl(server, ['user', 'list'])).json as { users: { name: string }[] };
    expect(users.users.map((u) => u.name)).not.toContain('never-added');
  });
});

describe('idv-agent register tokens', () => {
  async function registrationToken(): Promise<string> {
    return ((await idvctl(server, ['device', 'token', 'create'])).json as { token: string }).token;
  }

  it('registers with --token-file without a warning', async () => {
    const f = tokenFile('registration', `${await registrationToken()}\n`);
    const r = await run(AGENT_BIN, [
      'register',
      '--json',
      '--server',
      server.url,
      '--token-file',
      f,
      '--data-dir',
      join(dir, 'agent1'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ deviceGroup: 'default' });
    expect(r.stderr).toBe('');
  });

  it('still registers with --token, warning on stderr', async () => {
    const token = await registrationToken();
    const r = await run(AGENT_BIN, [
      'register',
      '--json',
      '--server',
      server.url,
      `--token=${token}`,
      '--data-dir',
      join(dir, 'agent2'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('idv-agent: warning: a token given with --token is visible');
    expect(r.stderr).not.toContain(token);
  });
});
