/**
 * What `idv-server serve` says loudly: plain http by choice (--insecure) at start, in /healthz and
 * in /metrics; enrollment links that would point at a wildcard address, and --public-url fixing
 * them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/agent.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';

const started: TestServer[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

async function serve(args: string[]): Promise<TestServer> {
  const s = await startServer({ args });
  started.push(s);
  return s;
}

/** The server's log lines (pino JSON on stderr) at level warn. */
function warnings(s: TestServer): string[] {
  return s
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string })
    .filter((l) => l.level === 40)
    .map((l) => l.msg);
}

async function health(s: TestServer): Promise<{ insecure: boolean }> {
  return (await (await fetch(`${s.url}/healthz`)).json()) as { insecure: boolean };
}

async function gauge(s: TestServer): Promise<string | undefined> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  return text.split('\n').find((l) => l.startsWith('idv_insecure '));
}

async function enrollLink(s: TestServer, name: string): Promise<string> {
  expect((await idvctl(s, ['user', 'add', name])).code).toBe(0);
  return ((await idvctl(s, ['user', 'enroll', name])).json as { link: string }).link;
}

describe('serve warnings', () => {
  it('says nothing for a plain loopback server, and insecure: false', async () => {
    const s = await serve([]);
    await waitFor(() => s.logs().includes('"msg":"listening"'), 'the log');
    expect(warnings(s)).toEqual([]);
    expect((await health(s)).insecure).toBe(false);
    expect(await gauge(s)).toBe('idv_insecure 0');
  });

  it('warns once about --insecure and about links on a wildcard address', async () => {
    // The later --listen wins over the helper's loopback one.
    const s = await serve(['--insecure', '--listen', '0.0.0.0:0']);
    // The log is written asynchronously: wait for both lines.
    const said = await waitFor(() => (warnings(s).length >= 2 ? warnings(s) : null), 'warnings');
    expect(said.filter((w) => w.startsWith('INSECURE'))).toHaveLength(1);
    expect(said.filter((w) => w.includes('wildcard address 0.0.0.0'))).toHaveLength(1);
    expect(said.join('\n')).toContain('--public-url');
    expect((await health(s)).insecure).toBe(true);
    expect(await gauge(s)).toBe('idv_insecure 1');
    // The link that warning is about.
    expect(await enrollLink(s, 'wanda')).toMatch(/^http:\/\/0\.0\.0\.0:[0-9]+\/enroll\//);
  });

  it('builds links from --public-url, with no wildcard warning', async () => {
    const s = await serve([
      '--insecure',
      '--listen',
      '0.0.0.0:0',
      '--public-url',
      'https://idv.example.test',
    ]);
    await waitFor(() => warnings(s).some((w) => w.startsWith('INSECURE')), 'the warning');
    expect(warnings(s).some((w) => w.includes('wildcard'))).toBe(false);
    expect(await enrollLink(s, 'wendy')).toMatch(/^https:\/\/idv\.example\.test\/enroll\//);
  });
});
