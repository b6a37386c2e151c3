/** The `mail` section of the server config: the SMTP server enrollment mail goes through. */
import { z } from 'zod';
import { isLoopback } from '../config.js';

export const mailConfigSchema = z
  .strictObject({
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535).default(587),
    /** starttls: plain connect, then STARTTLS, required; tls: TLS from the start (465); none: loopback only. */
    security: z.enum(['starttls', 'tls', 'none']).default('starttls'),
    /** A CA certificate (PEM) to trust for the SMTP server's certificate. */
    caFile: z.string().min(1).optional(),
    /** SMTP AUTH user; the password comes from passwordFile (0600). */
    username: z.string().min(1).max(256).optional(),
    passwordFile: z.string().min(1).optional(),
    /** The sender, `idv <idv@example.org>` or an address. */
    from: z.string().min(3).max(256),
    /** Seconds before the first retry of a failed delivery; doubled each time up to 16x. */
    retrySeconds: z.number().min(0.1).max(86_400).default(60),
    /** Seconds for connecting, the greeting and each SMTP command. */
    timeoutSeconds: z.number().min(0.1).max(600).default(15),
  })
  .refine((m) => (m.username === undefined) === (m.passwordFile === undefined), {
    message: 'username and passwordFile must be given together',
  })
  .refine((m) => m.security !== 'none' || isLoopback(m.host), {
    message: 'security "none" (no TLS) is only allowed to a loopback host',
    path: ['security'],
  });

export type MailConfig = z.infer<typeof mailConfigSchema>;
