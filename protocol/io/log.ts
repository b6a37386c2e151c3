/**
 * The structured logger (pino) of the server and the agent. Fields that could carry a secret, a
 * code, a token or a password are redacted by name wherever they appear, as a second line of
 * defence: the first is never passing them to the logger.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

const SECRET_KEYS = [
  'secret',
  'code',
  'token',
  'password',
  'authorization',
  'signature',
  'nonce',
  'recoveryCodes',
  'otpauthUri',
  'key',
];

export function createLogger(
  name: string,
  options: { level?: string; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    {
      name,
      level: options.level ?? process.env.IDV_LOG_LEVEL ?? 'info',
      redact: {
        paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
        censor: '[redacted]',
      },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
