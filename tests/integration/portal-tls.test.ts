/** Over TLS the portal's session cookie is `__Host-` prefixed and Secure. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/require.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { selfSignedCert } from '../helpers/tls.js';

const tmp = mkdtempSync(join(tmpdir(), 'idv-portal-tls-'));
let server: TestServer | undefined;

afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A GET, or (with `form`) the same-origin POST of the link page's Start setup button. */
function request(
  url: string,
  ca: Buffer,
  form?: string,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        ca,
        method: form === undefined ? 'GET' : 'POST',
        headers:
          form === undefined
            ? {}
            : {
                'content-type': 'application/x-www-form-urlencoded',
                origin: new URL(url).origin,
              },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(form);
  });
}

describe.skipIf(missing({ commands: ['openssl'] }))('portal over TLS', () => {
  it('sets a __Host- Secure HttpOnly SameSite=Strict cookie from an https link', async () => {
    const { cert, key } = selfSignedCert(tmp);
    server = await startServer({ args: ['--tls-cert', cert, '--tls-key', key] });
    const ca = readFileSync(cert);
    expect((await idvctl(server, ['--ca', cert, 'user', 'add', 'tess'])).code).toBe(0);
    const r = await idvctl(server, ['--ca', cert, 'user', 'enroll', 'tess']);
    const link = (r.json as { link: string }).link;
    expect(link.startsWith(`${server.url}/enroll/`)).toBe(true);
    expect(link.startsWith('https://')).toBe(true);

    expect((await request(link, ca)).status).toBe(200);
    const res = await request(link, ca, 'start=1');
    expect(res.status).toBe(303);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(
      /^__Host-idv_portal=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Secure$/,
    );
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });
});
