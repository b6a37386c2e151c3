/**
 * The tamper-evident device log with real parts: a real agent queues events while its server is
 * down; the test stops the agent, deletes or edits one queued event in the agent's SQLite cache
 * with the sqlite3 program, starts everything again, and reads what the server says about the
 * device (idvctl device show, events, /metrics). A clean run is not flagged.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import {
  addEnrolledUser,
  agentStatus,
  askAgent,
  begin,
  codeFor,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import type { TotpParams } from '../../protocol/messages.js';

let server: TestServer | undefined;
let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  server?.kill();
  agent = server = undefined;
});

interface Chain {
  seq: number;
  intact: boolean;
  breaks: number;
  lastBreak: { kind: string; seq: number; expected: number } | null;
}

async function chainOf(s: TestServer, id: string): Promise<Chain> {
  const r = await idvctl(s, ['device', 'show', id]);
  expect(r.code).toBe(0);
  return (r.json as { chain: Chain }).chain;
}

/** A wrong code then a right one: four events (prompt, invalid, prompt, ok). */
async function logins(a: TestAgent, totp: TotpParams): Promise<void> {
  await askAgent(a.socket, [begin('alice'), { type: 'verify', code: '000000' }]);
  await askAgent(a.socket, [begin('alice'), { type: 'verify', code: codeFor(totp) }]);
}

function deviceShow(s: TestServer, id: string): Promise<{ stdout: string }> {
  return run(IDVCTL_BIN, ['--server', s.url, 'device', 'show', id], { IDV_TOKEN: s.adminToken });
}

async function eventsOf(
  s: TestServer,
  id: string,
): Promise<{ outcome: string; reason?: string }[]> {
  const r = await idvctl(s, ['events', '--device', id]);
  const j = r.json as { events?: unknown[] } | unknown[];
  return (Array.isArray(j) ? j : (j.events ?? [])) as never;
}

function sqlite(a: TestAgent, sql: string): string {
  return execFileSync('sqlite3', [join(a.dataDir, 'cache.db'), sql], { encoding: 'utf8' });
}

async function uploaded(a: TestAgent): Promise<void> {
  await waitConnected(a, true);
  await waitFor(async () => (await agentStatus(a)).outbox === 0, 'outbox uploaded', 20_000);
}

/** Queues events offline, lets `change` alter the stopped agent's cache, brings both back. */
async function offlineThenTamper(change: (a: TestAgent) => void): Promise<string> {
  server = await startServer();
  const { totp } = await addEnrolledUser(server, 'alice');
  agent = await startAgent({ server, agentConfig: { backoffBaseMs: 100, backoffCapMs: 500 } });
  await logins(agent, totp);
  await uploaded(agent);
  await server.stop();
  await logins(agent, totp);
  await agent.kill('SIGTERM');
  change(agent);
  await agent.restart();
  await server.restart();
  await uploaded(agent);
  // One more login after the change: a break shows at the event after the altered one.
  await askAgent(agent.socket, [begin('alice'), { type: 'verify', code: '000000' }]);
  await uploaded(agent);
  return agent.deviceId;
}

describe('tamper-evident device log', () => {
  it('a clean run, online and offline, is not flagged', async () => {
    const id = await offlineThenTamper(() => undefined);
    const chain = await chainOf(server!, id);
    expect(chain).toMatchObject({ intact: true, breaks: 0, lastBreak: null });
    const events = await eventsOf(server!, id);
    expect(chain.seq).toBe(events.length);
    expect(events.some((e) => e.outcome === 'tamper')).toBe(false);
    const human = await deviceShow(server!, id);
    expect(human.stdout).toMatch(new RegExp(`chain\\s+intact \\(${events.length} events\\)`));
  }, 120_000);

  it('a queued event deleted from the cache is flagged as a gap', async () => {
    const id = await offlineThenTamper((a) => {
      sqlite(a, 'DELETE FROM outbox WHERE seq = (SELECT min(seq) FROM outbox)');
    });
    const chain = await chainOf(server!, id);
    expect(chain).toMatchObject({ intact: false, breaks: 1 });
    expect(chain.lastBreak).toMatchObject({ kind: 'gap' });
    expect(chain.lastBreak!.seq).toBe(chain.lastBreak!.expected + 1);
    const events = await eventsOf(server!, id);
    expect(events.filter((e) => e.outcome === 'tamper').map((e) => e.reason)).toEqual([
      'chain-gap',
    ]);
    const metrics = await fetch(`${server!.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/idv_event_chain_breaks_total\{kind="gap"\} 1/);
    expect(server!.logs()).toContain('device event log has a gap');
    const human = await deviceShow(server!, id);
    expect(human.stdout).toMatch(
      /chain\s+BROKEN: 1 break\(s\); last: gap at event \d+ \(expected \d+\)/,
    );
  }, 120_000);

  it('a queued event edited in the cache is flagged as a rewrite', async () => {
    const id = await offlineThenTamper((a) => {
      // The offline wrong code becomes a success.
      const changed = sqlite(
        a,
        `UPDATE outbox SET body = replace(body, '"outcome":"invalid"', '"outcome":"ok"')
         WHERE body LIKE '%"outcome":"invalid"%'; SELECT changes();`,
      );
      expect(changed.trim()).toBe('1');
    });
    const chain = await chainOf(server!, id);
    expect(chain).toMatchObject({ intact: false, breaks: 1 });
    expect(chain.lastBreak).toMatchObject({ kind: 'rewrite' });
    expect(chain.lastBreak!.seq).toBe(chain.lastBreak!.expected);
    const events = await eventsOf(server!, id);
    expect(events.filter((e) => e.outcome === 'tamper').map((e) => e.reason)).toEqual([
      'chain-rewrite',
    ]);
    const metrics = await fetch(`${server!.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/idv_event_chain_breaks_total\{kind="rewrite"\} 1/);
  }, 120_000);
});
