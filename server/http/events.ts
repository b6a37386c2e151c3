/**
 * Login events: a query (by user, device and time) and a live NDJSON stream that first replays
 * the matching backlog and then every newly stored event, with no gap and no duplicate. Each
 * event carries its store order (`seq`): a follower that lost the stream asks again with
 * `after=SEQ` and misses nothing. Device names ride along (`deviceName`), read once per request
 * and again when an unknown device shows up.
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { EventQuery, StoredEvent } from '../store/store.js';
import { iso, parseInput } from './validate.js';

const time = z
  .string()
  .refine(
    (v) => /^[0-9]{1,16}$/.test(v) || !Number.isNaN(Date.parse(v)),
    'must be ISO-8601 or epoch milliseconds',
  )
  .transform((v) => (/^[0-9]+$/.test(v) ? Number(v) : Date.parse(v)));

export const eventQuery = z.strictObject({
  user: z.string().min(1).max(256).optional(),
  device: z.uuid().optional(),
  since: time.optional(),
  until: time.optional(),
  after: z
    .string()
    .regex(/^[0-9]{1,15}$/, 'must be a whole number')
    .transform(Number)
    .optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,5}$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 10_000, 'must be 1-10000')
    .optional(),
});

/** The device id of events about every device at once (an admin unlock without --device). */
export const ALL_DEVICES = '*';

/** Device id → name, loaded on first use and reloaded when an id is not in it. */
class DeviceNames {
  private names: Map<string, string> | null = null;
  constructor(private readonly ctx: ServerContext) {}

  async of(id: string): Promise<string | null> {
    if (id === ALL_DEVICES) return 'all devices';
    if (!this.names?.has(id)) {
      this.names = new Map((await this.ctx.store.listDevices()).map((d) => [d.id, d.name]));
    }
    return this.names.get(id) ?? null;
  }
}

export function eventView(e: StoredEvent, deviceName: string | null) {
  return {
    id: e.id,
    seq: e.seq,
    at: iso(e.at),
    device: e.device,
    deviceName,
    user: e.user,
    service: e.service,
    outcome: e.outcome,
    ...(e.rhost !== undefined ? { rhost: e.rhost } : {}),
    ...(e.tty !== undefined ? { tty: e.tty } : {}),
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
    ...(e.recoveryCodeId !== undefined ? { recoveryCodeId: e.recoveryCodeId } : {}),
    receivedAt: iso(e.receivedAt),
    // Uploaded by a device already revoked: what the stolen machine allowed before it knew.
    ...(e.afterRevocation ? { afterRevocation: true } : {}),
  };
}

function toQuery(q: z.infer<typeof eventQuery>, limit: number): EventQuery {
  return {
    limit,
    ...(q.user !== undefined ? { user: q.user } : {}),
    ...(q.device !== undefined ? { device: q.device } : {}),
    ...(q.since !== undefined ? { since: q.since } : {}),
    ...(q.until !== undefined ? { until: q.until } : {}),
    ...(q.after !== undefined ? { afterSeq: q.after } : {}),
  };
}

function matches(q: EventQuery, e: StoredEvent): boolean {
  return (
    (q.user === undefined || e.user === q.user) &&
    (q.device === undefined || e.device === q.device) &&
    (q.since === undefined || e.at >= q.since) &&
    (q.until === undefined || e.at < q.until) &&
    (q.afterSeq === undefined || e.seq > q.afterSeq)
  );
}

export function registerEventRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/events', async (req) => {
    const q = parseInput(eventQuery, req.query, 'query');
    const events = await ctx.store.queryEvents(toQuery(q, q.limit ?? 100));
    const names = new DeviceNames(ctx);
    const views = [];
    for (const e of events) views.push(eventView(e, await names.of(e.device)));
    return { events: views };
  });

  app.get('/v1/events/stream', async (req, reply) => {
    const parsed = parseInput(eventQuery, req.query, 'query');
    const q = toQuery(parsed, parsed.limit ?? 20);
    const out = new PassThrough();
    const names = new DeviceNames(ctx);
    let lastSeq = 0;
    let replaying = true;
    const buffered: StoredEvent[] = [];
    // Name look-ups are async: writes go through one chain so the order stays the store's.
    let writing: Promise<void> = Promise.resolve();
    const write = (e: StoredEvent) => {
      if (e.seq <= lastSeq || !matches(q, e)) return;
      lastSeq = e.seq;
      writing = writing.then(async () => {
        const name = await names.of(e.device).catch(() => null);
        out.write(`${JSON.stringify(eventView(e, name))}\n`);
      });
    };
    const unsubscribe = ctx.feed.subscribe(
      (events) => {
        for (const e of events) {
          if (replaying) buffered.push(e);
          else write(e);
        }
      },
      () => void writing.then(stop),
    );
    // A blank line now and then lets both ends notice a dead stream.
    const keepAlive = setInterval(() => out.write('\n'), 15_000);
    keepAlive.unref();
    function stop() {
      unsubscribe();
      clearInterval(keepAlive);
      out.end();
    }
    req.raw.on('close', stop);
    out.on('error', stop);
    const backlog = await ctx.store.queryEvents(q);
    for (const e of backlog) write(e);
    replaying = false;
    for (const e of buffered) write(e);
    await writing;
    out.write('\n');
    return reply
      .header('content-type', 'application/x-ndjson')
      .header('cache-control', 'no-store')
      .send(out);
  });
}
