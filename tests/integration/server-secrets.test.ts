/**
 * Secrets stay secret: the TOTP secret, the codes and every token never appear in the server's
 * logs (at debug level) nor in clear in the database files; the data dir and key are private.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCode } from '../../protocol/totp.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { SimAgent, createRegistrationToken, registerDevice } from '../helpers/sim-agent.js';

let server: TestServer;
const secrets: string[] = [];

beforeAll(async () => {
  server = await startServer();
  secrets.push(server.adminToken);
  await idvctl(server, ['user', 'add', 'sam', '--group', 'eng']);
  const e = (await idvctl(server, ['user', 'enroll', 'sam', '--show-secret'])).json as {
    secret: string;
    link: string;
  };
  secrets.push(e.secret, e.link.split('/').pop() as string);
  const code = generateCode(
    { secret: e.secret, algorithm: 'SHA1', digits: 6, period: 30 },
    Date.now(),
  );
  secrets.push(code);
  expect((await idvctl(server, ['user', 'confirm', 'sam', code])).code).toBe(0);
  // A second, pending secret (never confirmed) must be sealed too.
  await idvctl(server, ['user', 'add', 'pat']);
  secrets.push(
    ((await idvctl(server, ['user', 'enroll', 'pat', '--show-secret'])).json as { secret: string })
      .secret,
  );
  const token = await createRegistrationToken(server);
  secrets.push(token);
  const agent = new SimAgent(server.url, await registerDevice(server, { token }));
  await agent.connect();
  const snap = await agent.nextSync();
  expect(JSON.stringify(snap)).toContain(secrets[1]);
  await agent.close();
  // Failed attempts with secrets in them are logged too; they must not echo the input.
  await idvctl({ url: server.url, adminToken: `${server.adminToken}x` }, ['user', 'list']);
  await idvctl(server, ['user', 'confirm', 'sam', code]);
  await server.stop();
});
afterAll(async () => {
  await server?.stop();
});

describe('secrets at rest and in logs', () => {
  it('keeps every secret, code and token out of the logs', () => {
    const logs = server.logs();
    expect(logs).toContain('enrollment confirmed');
    for (const s of secrets) expect(logs).not.toContain(s);
  });

  it('keeps secrets and tokens out of the database files in clear', () => {
    const files = readdirSync(server.dataDir).filter((f) => f.startsWith('idv.db'));
    expect(files).toContain('idv.db');
    for (const f of files) {
      const bytes = readFileSync(join(server.dataDir, f));
      for (const s of secrets) {
        expect(bytes.includes(Buffer.from(s)), `${s.slice(0, 4)}… in ${f}`).toBe(false);
        expect(bytes.includes(Buffer.from(s.toLowerCase())), `${s.slice(0, 4)}… in ${f}`).toBe(
          false,
        );
      }
    }
  });

  it('keeps the data dir 0700 and the master key and database 0600', () => {
    expect(statSync(server.dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(server.dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(server.dataDir, 'idv.db')).mode & 0o777).toBe(0o600);
  });
});
