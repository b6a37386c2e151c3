/**
 * Admin authentication against path tricks, sent byte for byte (node:http, no URL
 * normalisation): percent-encoded letters, slashes, dot segments, case, trailing slashes, other
 * methods. Every variant that reaches an admin route must need the token; none may answer with
 * data or change anything.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

/** One raw request; the path goes on the wire exactly as given. */
function raw(
  method: string,
  path: string,
  body?: string,
  token?: string,
): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        method,
        path,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const USERS_VARIANTS = [
  '/v1/users',
  '/%76%31/users',
  '/%761/users',
  '/v%31/users',
  '/v1/%75sers',
  '/v1/user%73',
  '/%56%31/users',
  '/v1/users/',
  '/v1/users?x=1',
  '/v1/users%3F',
  '//v1/users',
  '/V1/users',
  '/v1/../v1/users',
  '/v1/./users',
  '/v1//users',
  '/v1;/users',
  '/v1/users;x',
  '/v1%2Fusers',
  '/%2Fv1/users',
];

describe('admin auth and path tricks', () => {
  it('never lists users without the token, however the path is spelled', async () => {
    await raw('POST', '/v1/users', JSON.stringify({ name: 'alice' }), server.adminToken);
    for (const path of USERS_VARIANTS) {
      for (const method of ['GET', 'HEAD', 'OPTIONS']) {
        const r = await raw(method, path);
        expect([401, 404], `${method} ${path}`).toContain(r.status);
        expect(r.text, `${method} ${path}`).not.toContain('alice');
      }
    }
  });

  it('refuses a change through an encoded path without the token, and changes nothing', async () => {
    for (const path of ['/%76%31/users', '/v1/%75sers', '/v%31/users']) {
      const r = await raw('POST', path, JSON.stringify({ name: 'mallory' }));
      expect(r.status, path).toBe(401);
      expect(JSON.parse(r.text)).toEqual({
        code: 'UNAUTHORIZED',
        message: 'Missing or invalid credentials.',
      });
    }
    for (const path of ['/%76%31/device-tokens', '/v1/device%2Dtokens']) {
      const r = await raw('POST', path, '{}');
      expect(r.status, path).toBe(401);
      expect(r.text).not.toContain('idv_');
    }
    const enroll = await raw('POST', '/%76%31/users/alice/enroll', '{"showSecret":true}');
    expect(enroll.status).toBe(401);
    const list = await raw('GET', '/v1/users', undefined, server.adminToken);
    const names = (
      JSON.parse(list.text) as { users: { name: string; enrollmentPending: boolean }[] }
    ).users;
    expect(names.map((u) => u.name)).toEqual(['alice']);
    expect(names[0]?.enrollmentPending).toBe(false);
  });

  it('keeps registration, health, metrics and the portal reachable without a token', async () => {
    expect((await raw('POST', '/v1/register', '{}')).status).toBe(400);
    expect((await raw('POST', '/v1/%72egister', '{}')).status).toBe(400);
    expect((await raw('GET', '/healthz')).status).toBe(200);
    expect((await raw('GET', '/portal/signin')).status).toBe(200);
    // An encoded admin path with the token still works (the route is the same).
    expect((await raw('GET', '/%76%31/users', undefined, server.adminToken)).status).toBe(200);
  });
});
