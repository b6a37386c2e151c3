/**
 * Event forwarding to a real rsyslogd (UDP, TCP and TLS, RFC 5424 with structured data) and a
 * real HTTPS webhook receiver that checks the HMAC signature; both are stopped while events
 * happen and started again: nothing is lost on TCP, TLS and the webhook. Admin actions (the
 * audit log, refused ones too) go the same way on their own cursor, once each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../server/config.js';
import { waitFor } from '../helpers/agent.js';
import { readmeIdvctl, readmeJson } from '../helpers/readme.js';
import { missing } from '../helpers/require.js';
import { RSYSLOG_OSSL, RSYSLOGD, startRsyslog, type Rsyslog } from '../helpers/rsyslog.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook.js';

const skip = missing({
  commands: [RSYSLOGD],
  files: [{ path: RSYSLOG_OSSL, hint: 'apt-get install rsyslog-openssl' }],
});

type Json = Record<string, unknown>;

describe.skipIf(skip)('forwarding events to rsyslogd and a webhook', () => {
  let syslog: Rsyslog;
  let hook: WebhookReceiver;
  let server: TestServer;
  const ids: string[] = [];

  /** An admin unlock: one stored event, forwarded like every login event. */
  async function event(): Promise<void> {
    expect((await idvctl(server, ['user', 'unlock', 'alice'])).code).toBe(0);
    const r = await idvctl(server, ['events', '--user', 'alice']);
    const events = (r.json as { events: Json[] }).events;
    ids.push(events[events.length - 1]?.id as string);
  }
  const on = (input: string, id: string) =>
    syslog.lines().filter((l) => l.startsWith(`${input} `) && l.includes(`eventId="${id}"`));
  const hooked = () =>
    hook
      .requests()
      .flatMap((r) => (JSON.parse(r.body) as { records: Json[] }).records.map((x) => x.eventId));

  beforeAll(async () => {
    syslog = await startRsyslog();
    hook = await webhookReceiver();
    const [readme] = readmeJson('Forward events');
    const forward = {
      ...(readme?.forward as Json),
      syslog: [
        { transport: 'udp', host: '127.0.0.1', port: syslog.udpPort },
        { transport: 'tcp', host: '127.0.0.1', port: syslog.tcpPort },
        { transport: 'tls', host: '127.0.0.1', port: syslog.tlsPort, caFile: syslog.caFile },
      ],
      webhooks: [{ url: hook.url, secretFile: hook.secretFile, caFile: hook.caFile }],
      retrySeconds: 0.2,
    };
    expect(configSchema.partial().safeParse({ forward: readme?.forward }).success).toBe(true);
    server = await startServer({ config: { forward } });
    expect((await idvctl(server, ['user', 'add', 'alice'])).code).toBe(0);
  });
  afterAll(async () => {
    await server?.stop();
    await syslog?.remove();
    await hook?.remove();
  });

  it('sends each event as RFC 5424 with structured data over UDP, TCP and TLS, and a signed webhook', async () => {
    await event();
    const id = ids[0] as string;
    for (const input of ['imudp', 'tcp', 'tls'])
      await waitFor(() => on(input, id).length === 1, `the event over ${input}`, 30_000);
    const line = on('tls', id)[0] as string;
    expect(line).toMatch(
      /^tls 1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ idv-server \d+ login-unlock \[idv@32473 seq="\d+" kind="login" eventId="[0-9a-f-]+" device="\*" user="alice" service="admin" outcome="unlock" reason="admin"\] admin login of alice on device \*: unlock \(admin\)$/,
    );
    await waitFor(() => hooked().includes(id), 'the event at the webhook', 30_000);
    expect(hook.requests().every((r) => r.valid)).toBe(true);
    const [status] = readmeIdvctl('Forward events');
    const s = await idvctl(server, status ?? []);
    expect(s.code).toBe(0);
    const dests = (s.json as { destinations: Json[] }).destinations;
    expect(dests.map((d) => d.stream)).toEqual([
      ...Array(4).fill('login'),
      ...Array(4).fill('audit'),
    ]);
    expect(dests.filter((d) => d.stream === 'login').map((d) => d.name)).toEqual([
      `syslog+udp://127.0.0.1:${syslog.udpPort}`,
      `syslog+tcp://127.0.0.1:${syslog.tcpPort}`,
      `syslog+tls://127.0.0.1:${syslog.tlsPort}`,
      `webhook:${hook.url}`,
    ]);
  });

  it('loses nothing on TCP, TLS and the webhook while the receivers are down', async () => {
    await syslog.stop();
    await hook.stop();
    for (let i = 0; i < 3; i++) await event();
    await waitFor(
      async () =>
        (
          (await idvctl(server, ['forward', 'status'])).json as { destinations: Json[] }
        ).destinations
          .filter(
            (d) => d.stream === 'login' && d.name !== `syslog+udp://127.0.0.1:${syslog.udpPort}`,
          )
          .every((d) => (d.failures as number) > 0),
      'the forwarder saw the receivers down',
      30_000,
    );
    await syslog.start();
    await hook.start();
    for (const id of ids) {
      for (const input of ['tcp', 'tls'])
        await waitFor(() => on(input, id).length >= 1, `${id} over ${input}`, 60_000);
      await waitFor(() => hooked().includes(id), `${id} at the webhook`, 60_000);
    }
    expect(hook.requests().every((r) => r.valid)).toBe(true);
    expect(server.logs()).not.toContain('webhook-hmac-key');
  });

  it('forwards admin actions (refused ones too) with who, what, from where and the result; once each across a receiver outage', async () => {
    const admin = (input: string, action: string) =>
      syslog
        .lines()
        .filter(
          (l) =>
            l.startsWith(`${input} `) &&
            l.includes(`kind="admin"`) &&
            l.includes(`action="${action}"`),
        );
    const audited = () =>
      hook
        .requests()
        .flatMap((r) => (JSON.parse(r.body) as { records: Json[] }).records)
        .filter((x) => x.kind === 'admin');
    expect((await idvctl(server, ['policy', 'set', '--max-attempts', '4'])).code).toBe(0);
    expect((await idvctl(server, ['user', 'add', 'alice'])).code).not.toBe(0);
    const tls = await waitFor(
      () => {
        const lines = [...admin('tls', 'policy.set'), ...admin('tls', 'user.add')];
        return lines.length >= 3 ? lines : null;
      },
      'the admin actions over TLS',
      30_000,
    );
    const set = tls.find((l) => l.includes('action="policy.set"')) as string;
    expect(set).toMatch(
      /^tls 1 \S+ \S+ idv-server \d+ admin-policy\.set \[idv@32473 seq="\d+" kind="admin" actor="token:[^"]+" role="admin" source="127\.0\.0\.1" action="policy\.set" target="default" result="ok" detail="\{\\"maxAttempts\\":4,\\"was\\":\{\\"maxAttempts\\":\d+\}\}"\] token:\S+ \(admin\) from 127\.0\.0\.1: policy\.set default: ok$/,
    );
    const refused = tls.filter(
      (l) => l.includes('action="user.add"') && !l.includes('result="ok"'),
    );
    expect(refused).toHaveLength(1);
    await waitFor(
      () => audited().some((r) => r.action === 'user.add' && r.result !== 'ok'),
      'the refused action at the webhook',
      30_000,
    );
    const hooked = audited().find((r) => r.action === 'policy.set') as Json;
    expect(hooked).toMatchObject({
      stream: 'audit',
      kind: 'admin',
      target: 'default',
      result: 'ok',
      source: '127.0.0.1',
    });
    expect(hooked.id).toBe(`audit/${hooked.seq as number}`);

    // Receivers down: an action made meanwhile arrives once they are back, once.
    await syslog.stop();
    await hook.stop();
    expect((await idvctl(server, ['user', 'add', 'dora'])).code).toBe(0);
    await waitFor(
      async () =>
        (
          (await idvctl(server, ['forward', 'status'])).json as { destinations: Json[] }
        ).destinations
          .filter((d) => d.stream === 'audit' && !String(d.name).startsWith('syslog+udp'))
          .every((d) => (d.failures as number) > 0),
      'the audit stream saw the receivers down',
      30_000,
    );
    await syslog.start();
    await hook.start();
    const dora = (input: string) =>
      admin(input, 'user.add').filter((l) => l.includes('target="dora"'));
    for (const input of ['tcp', 'tls'])
      await waitFor(() => dora(input).length >= 1, `dora over ${input}`, 60_000);
    await waitFor(() => audited().some((r) => r.target === 'dora'), 'dora at the webhook', 60_000);
    // Give a duplicate the time to show up, then count: once on each.
    await idvctl(server, ['user', 'add', 'erin']);
    await waitFor(
      () =>
        dora('tls').length >= 1 &&
        admin('tls', 'user.add').some((l) => l.includes('target="erin"')),
      'the next action over TLS',
      60_000,
    );
    await waitFor(
      () => audited().some((r) => r.target === 'erin'),
      'the next action at the webhook',
      60_000,
    );
    expect(dora('tcp')).toHaveLength(1);
    expect(dora('tls')).toHaveLength(1);
    expect(audited().filter((r) => r.target === 'dora')).toHaveLength(1);
    expect(hook.requests().every((r) => r.valid)).toBe(true);
    // Never a token, secret or code in what left.
    const all =
      syslog.lines().join('\n') +
      hook
        .requests()
        .map((r) => r.body)
        .join('\n');
    expect(all).not.toContain(server.adminToken);
  });
});
