/**
 * Reconnect delays: exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): a uniformly random delay in [0, min(cap, base·2^attempt)). Full jitter
 * spreads a fleet of agents reconnecting after a server restart instead of synchronising them.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  random?: () => number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  baseMs: 500,
  capMs: 30_000,
});

export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor((options.random ?? Math.random)() * ceiling);
}
