/** Turns unknown input into typed values or a VALIDATION_FAILED with a message per field. */
import { z } from 'zod';
import { IdvError } from '../../protocol/errors.js';
import { describeIssues } from '../../protocol/messages.js';
import { nameSchema } from '../../protocol/policy.js';

export function parseInput<T>(schema: z.ZodType<T>, data: unknown, context: string): T {
  const result = schema.safeParse(data ?? {});
  if (!result.success)
    throw new IdvError('VALIDATION_FAILED', describeIssues(context, result.error));
  return result.data;
}

export const nameParams = z.strictObject({ name: nameSchema });
export const groupParams = z.strictObject({ group: nameSchema });
export const idParams = z.strictObject({ id: z.uuid() });
export const emptyBody = z.strictObject({});

/** Epoch ms in an API view, as ISO-8601 (null stays null). */
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
