/** bench:scale (1): two replicas on one PostgreSQL. */
import type { Window } from './fleet.js';

export async function startPushCluster(
  _n: number,
  _rounds: number,
): Promise<string | { same: Window[]; cross: Window[] }> {
  return 'needs the PostgreSQL backend';
}
