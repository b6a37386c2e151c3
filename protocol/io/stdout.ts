/**
 * A closed stdout (`idvctl events --follow | head -5`) is a normal end, not a crash: Node reports
 * the reader going away as an asynchronous EPIPE `error` on the stream, which, unhandled, prints
 * a stack trace and exits 1. Every program installs this once at start.
 *
 * One-shot commands exit with `code` (0: the reader had what it wanted; the helper passes its
 * refusal code, since it may exit 0 only on an explicit yes). Long-running services (`serve`,
 * `run`) call `keepRunningWithoutOutput()`: a restarted journald breaks their stdout, and a
 * service must not stop over that; later writes are dropped.
 */
let keepRunning = false;

function closed(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED';
}

/** Installs the handler on stdout and stderr; any other write error is still thrown. */
export function endOnClosedOutput(code: number): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (!closed(err)) throw err;
      if (!keepRunning) process.exit(code);
    });
  }
}

/** For services: a closed stdout no longer ends the process. */
export function keepRunningWithoutOutput(): void {
  keepRunning = true;
}
