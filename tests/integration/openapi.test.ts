/**
 * The OpenAPI document against the real server (in this process, on port 0): every route the
 * server serves under /v1 (and /healthz, /metrics) is documented with its method, every
 * documented route is served, and each documented body schema is the one the route enforces (a
 * field the document forbids is refused with VALIDATION_FAILED, and nothing changes).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../protocol/io/log.js';
import { loadConfig } from '../../server/config.js';
import { initDataDir } from '../../server/datadir.js';
import { API_ROUTES } from '../../server/http/api-spec.js';
import { openApiPath } from '../../server/http/openapi.js';
import { startServer, type RunningServer } from '../../server/serve.js';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { requestBody?: unknown; parameters?: { name: string }[] }>>;
};

let dir: string;
let server: RunningServer;
let token: string;
let doc: Doc;

/** API routes: the admin API, health and metrics (not the portal's or the console's pages). */
function isApi(url: string): boolean {
  return url.startsWith('/v1/') || url === '/healthz' || url === '/metrics';
}

function concrete(url: string): string {
  return url
    .replace(':name', 'openapi-probe')
    .replace(':group', 'openapi-probe')
    .replace(':id', randomUUID())
    .replace(/:[A-Za-z_]+/g, 'openapi-probe');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idv-openapi-'));
  ({ token } = await initDataDir(join(dir, 'data'), Date.now()));
  const config = loadConfig({
    flags: { dataDir: join(dir, 'data'), listen: '127.0.0.1:0' },
    env: {},
  });
  server = await startServer(config, { log: createLogger('idv-server', { level: 'silent' }) });
  const res = await fetch(`${server.url}/v1/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /v1/openapi.json', () => {
  it('is an OpenAPI 3.1 document, served without a credential', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).length).toBeGreaterThan(10);
  });

  it('documents every API route the server serves', () => {
    const undocumented = server
      .routes()
      .filter((r) => isApi(r.url))
      .filter((r) => !doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()])
      .map((r) => `${r.method} ${r.url}`);
    expect(undocumented, 'add these to server/http/api-spec.ts').toEqual([]);
  });

  it('serves every route it documents', () => {
    const served = new Set(server.routes().map((r) => `${r.method} ${openApiPath(r.url)}`));
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.filter((d) => !served.has(d))).toEqual([]);
    // And over HTTP: with a valid token no documented route is the router's unknown route.
    // (The live stream is left out: it stays open, and served.has() above covers it.)
    return Promise.all(
      API_ROUTES.filter((r) => !r.url.endsWith('/stream')).map(async (r) => {
        const res = await fetch(`${server.url}${concrete(r.url)}`, {
          method: r.method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(r.body ? { 'content-type': 'application/json' } : {}),
          },
          ...(r.body ? { body: JSON.stringify({ openapiProbe: true }) } : {}),
        });
        const text = await res.text();
        expect(text.includes('"code":"NOT_FOUND"'), `${r.method} ${r.url}`).toBe(false);
      }),
    );
  });

  it('each documented body is the schema the route enforces: a forbidden field is refused', async () => {
    const revision = async () =>
      ((await (await fetch(`${server.url}/healthz`)).json()) as { revision: number }).revision;
    const before = await revision();
    for (const r of API_ROUTES.filter((x) => x.body)) {
      const op = doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()] as {
        requestBody: {
          content: { 'application/json': { schema: { additionalProperties?: boolean } } };
        };
      };
      expect(op.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
      const res = await fetch(`${server.url}${concrete(r.url)}`, {
        method: r.method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ openapiProbe: true }),
      });
      const body = (await res.json()) as { code: string };
      // A route that looks its subject up first may say so; none may accept the body.
      expect(res.status, `${r.method} ${r.url}`).toBeGreaterThanOrEqual(400);
      expect(['VALIDATION_FAILED', 'USER_NOT_FOUND', 'DEVICE_NOT_FOUND']).toContain(body.code);
    }
    // Nothing changed: the revision is the same.
    const after = await revision();
    expect(after).toBe(before);
  });

  it('names every path parameter', () => {
    for (const r of API_ROUTES) {
      const names = [...r.url.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]);
      const op = doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()];
      for (const n of names) expect(op?.parameters?.map((p) => p.name)).toContain(n);
    }
  });
});
