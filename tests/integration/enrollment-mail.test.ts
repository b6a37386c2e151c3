/**
 * Enrollment mail through a real SMTP server process (tests/helpers/smtp.ts): the README's config
 * and commands over STARTTLS with a self-signed certificate and AUTH from a 0600 file; a receiver
 * that is down at first gets the mail from the durable queue once it is up; the link is never in
 * the server's log.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../server/config.js';
import { waitFor } from '../helpers/agent.js';
import { readmeIdvctl, readmeJson } from '../helpers/readme.js';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import { smtpReceiver, type SmtpReceiver } from '../helpers/smtp.js';

type Json = Record<string, unknown>;

/** The text of a received message with quoted-printable soft breaks and escapes undone. */
function decoded(raw: string): string {
  return raw
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

describe('enrollment mail over STARTTLS with AUTH (the README commands)', () => {
  let smtp: SmtpReceiver;
  let server: TestServer;
  const [enroll = [], reset = [], queue = []] = readmeIdvctl('Send enrollment mail');

  beforeAll(async () => {
    smtp = await smtpReceiver({ tls: true, auth: 'idv:smtp-pass-Zr4' });
    const [readme] = readmeJson('Send enrollment mail');
    const passwordFile = join(smtp.caFile as string, '..', 'smtp.pw');
    writeFileSync(passwordFile, 'smtp-pass-Zr4\n', { mode: 0o600 });
    const mail = {
      ...(readme?.mail as Json),
      host: '127.0.0.1',
      port: smtp.port,
      caFile: smtp.caFile,
      passwordFile,
    };
    expect(configSchema.partial().safeParse({ mail }).success).toBe(true);
    server = await startServer({ config: { mail } });
    expect((await idvctl(server, ['user', 'add', 'alice'])).code).toBe(0);
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.remove();
  });

  it('user enroll --email mails the one-time link: text and HTML, no tracking, over TLS with AUTH', async () => {
    expect(enroll).toEqual(['user', 'enroll', 'alice', '--email', 'alice@example.org']);
    const r = await idvctl(server, enroll);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json as { link: string; mail: Json };
    expect(out.mail).toEqual({ to: 'alice@example.org', delivered: true });
    const [m] = smtp.received();
    expect(m).toMatchObject({
      to: ['alice@example.org'],
      from: 'idv@example.org',
      user: 'idv',
      secure: true,
    });
    const text = decoded(m?.raw ?? '');
    expect(text).toContain('Subject: Set up your second factor for idv');
    expect(text).toContain('Content-Type: text/plain');
    expect(text).toContain('Content-Type: text/html');
    expect(text).toContain(out.link);
    expect(text).toContain(`<a href="${out.link}">`);
    expect(text).not.toMatch(/<img|https?:\/\/(?!127\.0\.0\.1)/i); // no pixel, no other URL
    expect(server.logs()).not.toContain(out.link.split('/').pop());
  });

  it('reset-mfa mails the new link to the same address', async () => {
    expect(reset).toEqual(['user', 'reset-mfa', 'alice']);
    const r = await idvctl(server, reset);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json as { link: string; mail: Json };
    expect(out.mail).toEqual({ to: 'alice@example.org', delivered: true });
    const mails = smtp.received();
    expect(mails).toHaveLength(2);
    const text = decoded(mails[1]?.raw ?? '');
    expect(text).toContain('Subject: Set up your new second factor for idv');
    expect(text).toContain(out.link);
    expect(server.logs()).not.toContain(out.link.split('/').pop());
  });

  it('the human output says where the mail went; the queue is empty', async () => {
    const h = await run(IDVCTL_BIN, ['--server', server.url, ...enroll], {
      IDV_TOKEN: server.adminToken,
    });
    expect(h.stdout).toContain('Mailed to alice@example.org.');
    expect(queue).toEqual(['mail', 'queue']);
    const q = await idvctl(server, queue);
    expect(q.json).toEqual({ configured: true, queue: [] });
  });
});

describe('enrollment mail to a receiver that is down at first', () => {
  let smtp: SmtpReceiver;
  let server: TestServer;

  beforeAll(async () => {
    smtp = await smtpReceiver({ start: false });
    server = await startServer({
      config: {
        mail: {
          host: '127.0.0.1',
          port: smtp.port,
          security: 'none',
          from: 'idv@example.org',
          retrySeconds: 0.5,
        },
      },
    });
    expect((await idvctl(server, ['user', 'add', 'bob'])).code).toBe(0);
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.remove();
  });

  it('reports the failure, keeps the mail queued and delivers it once the receiver is up', async () => {
    const r = await idvctl(server, ['user', 'enroll', 'bob', '--email', 'bob@example.org']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json as { link: string; mail: { delivered: boolean; error: string } };
    expect(out.mail.delivered).toBe(false);
    expect(out.mail.error).toMatch(/ECONNREFUSED/);
    const q = await idvctl(server, ['mail', 'queue']);
    const queued = (q.json as { queue: Json[] }).queue;
    expect(queued).toHaveLength(1);
    expect(queued[0]).toMatchObject({ user: 'bob', address: 'bob@example.org' });
    expect(JSON.stringify(q.json)).not.toContain(out.link);
    await smtp.start();
    await waitFor(() => smtp.received().length === 1, 'the queued mail delivered', 60_000);
    expect(decoded(smtp.received()[0]?.raw ?? '')).toContain(out.link);
    await waitFor(
      async () =>
        ((await idvctl(server, ['mail', 'queue'])).json as { queue: Json[] }).queue.length === 0,
      'the queue emptied',
    );
    expect(server.logs()).toContain('enrollment mail failed; will retry');
    expect(server.logs()).not.toContain(out.link.split('/').pop());
  });

  it('refuses an address that is not one, changing nothing', async () => {
    const r = await idvctl(server, ['user', 'enroll', 'bob', '--email', 'not an address']);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });
});
