/** The `forward` section of the server config: where login events and admin actions go. */
import { z } from 'zod';
import { isLoopback } from '../config.js';
import { STREAMS } from './record.js';

/** RFC 5424 facility names and their numbers. */
export const FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

const host = z.string().min(1).max(253);
const port = z.number().int().min(1).max(65535);

export const syslogDestinationSchema = z
  .strictObject({
    /** udp: one datagram per event, best effort; tcp and tls: octet-counted frames (RFC 6587, 5425). */
    transport: z.enum(['udp', 'tcp', 'tls']),
    host,
    port,
    /** For tls: a CA certificate (PEM) to trust for the receiver's certificate. */
    caFile: z.string().min(1).optional(),
    facility: z.enum(Object.keys(FACILITIES) as [keyof typeof FACILITIES]).default('authpriv'),
    appName: z
      .string()
      .regex(/^[!-~]{1,48}$/, 'must be 1-48 printable ASCII characters')
      .default('idv-server'),
    /** HOSTNAME field; default: this machine's host name. */
    hostname: z
      .string()
      .regex(/^[!-~]{1,255}$/, 'must be printable ASCII without spaces')
      .optional(),
  })
  .refine((d) => d.transport === 'tls' || d.caFile === undefined, {
    message: 'caFile is only for transport tls',
    path: ['caFile'],
  });

export const webhookDestinationSchema = z
  .strictObject({
    /** https://... (http:// only to a loopback host). */
    url: z.url({ protocol: /^https?$/ }),
    /** A file (0600) holding the HMAC-SHA256 key that signs each request. */
    secretFile: z.string().min(1),
    caFile: z.string().min(1).optional(),
  })
  .refine(
    (d) => {
      const u = new URL(d.url);
      return u.protocol === 'https:' || isLoopback(u.hostname.replace(/^\[|\]$/g, ''));
    },
    { message: 'must be https:// (http:// only to a loopback host)', path: ['url'] },
  );

export const forwardConfigSchema = z
  .strictObject({
    syslog: z.array(syslogDestinationSchema).max(16).default([]),
    webhooks: z.array(webhookDestinationSchema).max(16).default([]),
    /** What every destination takes: login events (`login`), admin actions (`audit`), or both. */
    streams: z
      .array(z.enum(STREAMS))
      .min(1)
      .refine((l) => new Set(l).size === l.length, 'a stream is listed twice')
      .default([...STREAMS]),
    /** Records per syslog burst or webhook request. */
    batchSize: z.number().int().min(1).max(1000).default(100),
    /** Seconds before retrying a failed destination; doubled each time up to 16x. */
    retrySeconds: z.number().min(0.1).max(3600).default(5),
    timeoutSeconds: z.number().min(0.1).max(600).default(10),
    /**
     * Seconds between looks for records no notice announced. A safety net only: every commit of
     * login events or an admin action, on any replica, wakes the destinations at once.
     */
    pollSeconds: z.number().min(0.1).max(3600).default(2),
    /** Where a destination (or stream) seen for the first time starts: new records only, or every stored one. */
    startAt: z.enum(['now', 'oldest']).default('now'),
  })
  .refine(
    (f) => {
      // Each destination keeps its cursor under this name: two of the same would share one.
      const names = [
        ...f.syslog.map((d) => `${d.transport}://${d.host}:${d.port}`),
        ...f.webhooks.map((d) => `${new URL(d.url).origin}${new URL(d.url).pathname}`),
      ];
      return new Set(names).size === names.length;
    },
    { message: 'a destination is listed twice' },
  );

export type ForwardConfig = z.infer<typeof forwardConfigSchema>;
export type SyslogDestination = z.infer<typeof syslogDestinationSchema>;
export type WebhookDestination = z.infer<typeof webhookDestinationSchema>;
