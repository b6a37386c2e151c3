/**
 * `idvctl user helpdesk-code NAME --device ID [--valid DUR]` (issue 15): a one-time code for one
 * user on one machine, which that machine accepts at its normal code prompt with no network.
 * `--json` prints exactly `{"code": "...", "expiresAt": "ISO-8601"}`.
 */
import { EXIT, stringFlag, uuidFlag, type Command, type Parsed } from '../../protocol/cli.js';
import { formatDuration, parseDuration } from '../../protocol/duration.js';
import { IdvError } from '../../protocol/errors.js';
import {
  HELPDESK_DEFAULT_SECONDS,
  HELPDESK_MAX_SECONDS,
  HELPDESK_MIN_SECONDS,
} from '../../protocol/helpdesk.js';
import type { ApiClient } from './client.js';

/** `between 1m and 24h` (formatDuration would say 1d). */
const RANGE = `between ${formatDuration(HELPDESK_MIN_SECONDS)} and ${HELPDESK_MAX_SECONDS / 3600}h`;

/** --valid as seconds: a duration from 1m to 24h; anything else is wrong usage. */
export function validSeconds(values: Parsed['values']): number {
  const text = stringFlag(values, 'valid');
  if (text === undefined) return HELPDESK_DEFAULT_SECONDS;
  const s = parseDuration(text);
  if (s === null || s < HELPDESK_MIN_SECONDS || s > HELPDESK_MAX_SECONDS)
    throw new IdvError('USAGE', `--valid must be a duration ${RANGE}, like 15m or 2h`);
  return s;
}

export function helpdeskCommands(
  client: (values: Parsed['values']) => ApiClient,
): Record<string, Command> {
  return {
    'user helpdesk-code': {
      summary: 'Print a one-time code for a user on one device (works there offline)',
      args: 'NAME --device ID',
      options: { device: { type: 'string' }, valid: { type: 'string' } },
      flags: {
        device: {
          value: 'ID',
          help: 'the device the user is at (required; an id from device list)',
        },
        valid: { value: 'DUR', help: `how long the code works, ${RANGE} (default: 15m)` },
      },
      positionals: 1,
      run: async ({ values, positionals }, io) => {
        const name = positionals[0] as string;
        const device = uuidFlag(values, 'device');
        if (device === undefined) throw new IdvError('USAGE', '--device ID is required');
        const seconds = validSeconds(values);
        const r = await client(values).request<{ code: string; expiresAt: string }>(
          'POST',
          `/v1/users/${encodeURIComponent(name)}/helpdesk-code`,
          { device, validSeconds: seconds },
        );
        const out = { code: r.code, expiresAt: r.expiresAt };
        io.out(
          values.json
            ? JSON.stringify(out)
            : [
                `Helpdesk code for ${name} on device ${device}:`,
                '',
                `    ${out.code}`,
                '',
                `Works once, on that device only, until ${out.expiresAt}. The user types it at the normal code prompt.`,
              ].join('\n'),
        );
        return EXIT.OK;
      },
    },
  };
}
