/**
 * The OpenAPI 3.1 document of the admin API, built once from API_ROUTES: request bodies, path
 * parameters and query strings are the JSON Schema (2020-12, OpenAPI 3.1's dialect) of the zod
 * schemas the handlers validate with; every error is the catalog's `{code, message}`.
 * Served at GET /v1/openapi.json without a credential (it holds nothing secret).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ERRORS } from '../../protocol/errors.js';
import { IDV_VERSION } from '../../protocol/version.js';
import { API_ROUTES, type RouteDoc } from './api-spec.js';

type Json = Record<string, unknown>;

/** JSON Schema of what a client sends (the input side of transforms), without `$schema`. */
function jsonSchema(schema: z.ZodType): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Json;
  return rest;
}

/** `/v1/users/:name` → `/v1/users/{name}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

function parameters(route: RouteDoc): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!schema) continue;
    const s = jsonSchema(schema) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, prop] of Object.entries(s.properties ?? {})) {
      out.push({
        name,
        in: where,
        required: where === 'path' || (s.required ?? []).includes(name),
        schema: prop,
      });
    }
  }
  return out;
}

const errorBody: Json = {
  type: 'object',
  properties: {
    code: { type: 'string', enum: Object.keys(ERRORS) },
    message: { type: 'string' },
  },
  required: ['code', 'message'],
  additionalProperties: false,
};

function operation(route: RouteDoc): Json {
  const ok = route.ok;
  const content = ok.contentType ?? 'application/json';
  const responses: Json = {
    [String(ok.status)]: {
      description: ok.description,
      content: { [content]: { schema: ok.schema ? jsonSchema(ok.schema) : {} } },
    },
    default: {
      description: 'An error from the catalog (docs/errors.md)',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    },
  };
  if (route.auth === 'admin') {
    responses['401'] = {
      description: 'No valid admin token (the same answer for every route)',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return {
    tags: [route.tag],
    summary: route.summary,
    operationId: `${route.method.toLowerCase()}${openApiPath(route.url)
      .replace(/[{}]/g, '')
      .split(/[/.-]/)
      .map((w) => (w ? w[0]?.toUpperCase() + w.slice(1) : ''))
      .join('')}`,
    security: route.auth === 'admin' ? [{ bearer: [] }] : [],
    ...(parameters(route).length ? { parameters: parameters(route) } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchema(route.body) } },
          },
        }
      : {}),
    responses,
  };
}

export function buildOpenApi(routes: readonly RouteDoc[] = API_ROUTES): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const path = openApiPath(route.url);
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'idv-server admin API',
      version: IDV_VERSION,
      description:
        'Users, groups, devices, policy and login events of idv-server. Every error answer is ' +
        '`{code, message}` with a stable code (docs/errors.md). Agents also open the WebSocket ' +
        '`/v1/agent` (the sync protocol, docs/server.md), which OpenAPI does not describe.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An admin token (idvctl --token)' },
      },
      schemas: { Error: errorBody },
    },
    paths,
  };
}

export function registerOpenApiRoute(app: FastifyInstance): void {
  let text: string | null = null;
  app.get('/v1/openapi.json', async (_req, reply) => {
    text ??= JSON.stringify(buildOpenApi());
    return reply.header('content-type', 'application/json; charset=utf-8').send(text);
  });
}
