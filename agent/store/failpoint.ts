/**
 * A test seam for the crash tests: pause the agent between BEGIN and COMMIT of a chosen write,
 * so a test can SIGKILL it at exactly that moment (tests/integration/agent-failpoint.test.ts).
 *
 *   IDV_TEST_FAILPOINT=snapshot|delta|verify[:N]    pause the N-th time (default 1st) it is reached
 *   IDV_TEST_SEAMS=unsafe-test-only                 and this, exactly, or nothing is armed
 *
 * When reached, the agent writes `idv-failpoint <name> reached` on stderr and waits for ever,
 * holding the transaction open (every later write waits behind it; logins time out and are
 * refused: the seam can stall an agent, never let a login through). It is never honoured by the
 * packaged single binary (Node SEA), only by a checkout's `bin/idv-agent`; set without the
 * second variable, or in the binary, it is ignored with a warning. See docs/agent.md.
 */
import { writeSync } from 'node:fs';
import type { Logger } from '../../protocol/io/log.js';

export const FAILPOINTS = ['snapshot', 'delta', 'verify'] as const;
export type FailpointName = (typeof FAILPOINTS)[number];

export const ARM_VALUE = 'unsafe-test-only';

export interface Failpoints {
  /** What to run between BEGIN and COMMIT of `point`, or undefined (the usual case). */
  hook(point: FailpointName): (() => Promise<void>) | undefined;
}

function isSea(): boolean {
  try {
    // node:sea exists from Node 20.12; require is unavailable in ESM, so ask process for it.
    const sea = process.getBuiltinModule?.('node:sea') as { isSea?: () => boolean } | undefined;
    return sea?.isSea?.() ?? false;
  } catch {
    return false;
  }
}

/** The failpoint the environment arms, or null. Pure apart from the SEA check and the log. */
export function failpointsFromEnv(
  env: NodeJS.ProcessEnv,
  log: Logger,
  sea: boolean = isSea(),
): Failpoints | null {
  const spec = env.IDV_TEST_FAILPOINT;
  if (spec === undefined || spec === '') return null;
  if (env.IDV_TEST_SEAMS !== ARM_VALUE || sea) {
    log.warn(
      { failpoint: spec },
      sea
        ? 'IDV_TEST_FAILPOINT is ignored by the packaged binary'
        : `IDV_TEST_FAILPOINT is ignored without IDV_TEST_SEAMS=${ARM_VALUE}`,
    );
    return null;
  }
  const m = /^(snapshot|delta|verify)(?::([1-9][0-9]{0,5}))?$/.exec(spec);
  if (!m) {
    log.warn({ failpoint: spec }, 'IDV_TEST_FAILPOINT is not snapshot|delta|verify[:N]: ignored');
    return null;
  }
  const name = m[1] as FailpointName;
  const nth = Number(m[2] ?? 1);
  log.warn({ failpoint: name, nth }, 'TEST FAILPOINT ARMED: this agent will hang mid-transaction');
  let seen = 0;
  return {
    hook(point) {
      if (point !== name) return undefined;
      return () => {
        seen += 1;
        if (seen !== nth) return Promise.resolve();
        writeSync(2, `idv-failpoint ${name} reached\n`);
        return new Promise<void>(() => undefined);
      };
    },
  };
}
