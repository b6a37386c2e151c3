/**
 * `GET /healthz`: liveness for load balancers, monitoring and the agents' probes. It answers
 * within HEALTH_WAIT_MS whatever the database does: the revision is read by at most one query at
 * a time (a hung database is not asked again by every probe, which would take the whole pool),
 * and a read that fails or is slower than that answers `database: "unreachable"` with the last
 * revision seen (and the catalog's `code`/`message`, STORE_UNAVAILABLE, as any route would).
 * A replica cut from the database's notifications (store/staleness.ts) says `stale` with the
 * moment it last heard them. Either answers 503 with `ok: false`, so a load balancer stops
 * sending work to a replica that cannot see what the others change.
 *
 * A store that could not take a write (its disk full, read-only, unreachable: store/health.ts)
 * answers 503 too, `database` naming the cause, from that failure until a write succeeds again;
 * meanwhile each probe tries one small write (within the same wait), so it recovers by itself.
 */
import type { FastifyInstance } from 'fastify';
import { ERRORS, IdvError, type ErrorCode } from '../../protocol/errors.js';
import { buildInfo } from '../../protocol/version.js';
import { plainHttpOffLoopback } from '../config.js';
import type { ServerContext } from '../context.js';
import { publicFaultMessage, type HealthState } from '../store/health.js';
import type { Hub } from '../sync/hub.js';

const HEALTH_WAIT_MS = 800;

type Read = { revision: number } | { code: ErrorCode; message: string };

export function registerHealth(app: FastifyInstance, ctx: ServerContext, hub: Hub): void {
  let reading: Promise<number> | null = null;
  let lastRevision: number | null = null;
  const revision = (): Promise<Read> => {
    reading ??= ctx.store.revision().finally(() => {
      reading = null;
    });
    const read = reading.then(
      (r): Read => ({ revision: (lastRevision = r) }),
      (err: unknown): Read =>
        err instanceof IdvError
          ? { code: err.code, message: err.message }
          : { code: 'STORE_UNAVAILABLE', message: ERRORS.STORE_UNAVAILABLE.message },
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Read>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            code: 'STORE_UNAVAILABLE',
            message: `the database did not answer within ${HEALTH_WAIT_MS} ms`,
          }),
        HEALTH_WAIT_MS,
      );
    });
    return Promise.race([read, late]).finally(() => clearTimeout(timer));
  };

  // The last write failure, as the last probe left it (a probe still running keeps it).
  let probing: Promise<HealthState | null> | null = null;
  let fault: HealthState | null = null;
  const writable = (): Promise<HealthState | null> => {
    probing ??= ctx.store
      .checkHealth()
      .then((f) => (fault = f))
      .finally(() => {
        probing = null;
      });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<HealthState | null>((resolve) => {
      timer = setTimeout(() => resolve(fault), HEALTH_WAIT_MS);
    });
    return Promise.race([probing, late]).finally(() => clearTimeout(timer));
  };

  app.get('/healthz', async (_req, reply) => {
    const [read, failed] = await Promise.all([revision(), writable()]);
    const since = ctx.staleness.since;
    const ok = 'revision' in read && since === null && failed === null;
    // The catalog's error body too when the database failed, as any route answers it.
    // No driver message here: /healthz needs no token, and a driver's words can name internal
    // hosts, ports and paths (the authenticated API answers them in full).
    const error = failed
      ? { code: 'STORE_UNAVAILABLE' as const, message: publicFaultMessage(failed.fault) }
      : 'code' in read
        ? { code: read.code, message: ERRORS[read.code].message }
        : {};
    return reply.code(ok ? 200 : 503).send({
      ok,
      ...error,
      revision: 'revision' in read ? read.revision : lastRevision,
      agents: hub.connectedCount,
      insecure: plainHttpOffLoopback(ctx.config),
      database: failed ? failed.fault : 'revision' in read ? 'ok' : 'unreachable',
      ...(failed ? { databaseSince: new Date(failed.since).toISOString() } : {}),
      stale: since === null ? null : { since: new Date(since).toISOString() },
      ...buildInfo(),
    });
  });
}
