/**
 * The fixed lines the helper itself prints (the agent's own messages are printed verbatim).
 * One line per outcome: pam_exec's `stdout` option turns each into a PAM info message.
 */
export const TEXT = {
  /** Says where the code comes from: a first-time user may not know which code is meant. */
  prompt: 'Verification code (authenticator app): ',
  notACode: 'That is not a 6-digit code',
  unavailable: 'Verification service unavailable',
  /** Shown once when the agent is not there yet (restarting) and the login waits for it. */
  waiting: 'Waiting for the verification service...',
  noPermission: 'Verification service unavailable: this program may not ask it (permission denied)',
  failOpen: 'Verification service unavailable: login allowed without a code (fail-mode safe)',
  timedOut: 'Verification timed out',
  cancelled: 'Verification cancelled',
  noTerminal: 'Verification needs a terminal: this login cannot ask for a code',
} as const;
