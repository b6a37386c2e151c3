/**
 * Every user-facing line the agent sends to the helper, which prints it verbatim at the login
 * prompt. One line each, plain words, what to do next when there is something to do.
 * Times are shown in the machine's local time zone (the one the person at the login sees).
 */

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** `3 December` in local time. */
export function dayMonth(ms: number): string {
  const d = new Date(ms);
  return `${d.getDate()} ${MONTHS[d.getMonth()]}`;
}

/** `14:05` in local time; with the day in front when it is not today. */
export function clockTime(ms: number, now: number): string {
  const d = new Date(ms);
  const hhmm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  return new Date(now).toDateString() === d.toDateString() ? hhmm : `${dayMonth(ms)} ${hhmm}`;
}

function lockedText(until: number | null, now: number): string {
  return until === null
    ? 'Too many failed attempts: locked until an administrator unlocks the account'
    : `Too many failed attempts: locked until ${clockTime(until, now)}`;
}

export const MESSAGES = {
  wrongCode: (left: number) => `Wrong code, ${left} ${left === 1 ? 'attempt' : 'attempts'} left`,
  replayed: (left: number) =>
    `This code was already used; wait for the next one (${left} ${left === 1 ? 'attempt' : 'attempts'} left)`,
  accountLocked:
    'Too many failed attempts on this account (on all machines): locked until an administrator unlocks it',
  locked: (until: number | null, now: number) => lockedText(until, now),
  selfUnlockOffer: (until: number | null, now: number) =>
    `${lockedText(until, now)}. To unlock now, type two consecutive codes from your app`,
  selfUnlockNext: 'Code accepted. To end the lockout, type the next code when your app shows it',
  selfUnlockWrong: (until: number | null, now: number, left: number) =>
    `Wrong code: still ${lockedText(until, now).replace(/^Too many failed attempts: /, '')} (${left} self-unlock ${left === 1 ? 'attempt' : 'attempts'} left)`,
  selfUnlockSpent: (until: number | null, now: number) =>
    `${lockedText(until, now)}; too many wrong codes to unlock it yourself`,
  selfUnlocked: 'Two consecutive codes accepted: the lockout has ended',
  clockSkewNext:
    "This machine's clock seems wrong. To confirm, type the next code when your app shows it",
  clockLearned: "Two consecutive codes accepted; this machine now allows for its clock's error",
  graceUntil: (deadline: number) =>
    `You must set up your authenticator app by ${dayMonth(deadline)}`,
  graceEnded:
    'Your authenticator app was reset: set up the new one with the enrollment link from your administrator, then log in with its code',
  graceOver: (deadline: number) =>
    `You had to set up your authenticator app by ${dayMonth(deadline)}: ask your administrator for a new enrollment link`,
  suspended: 'Your account is suspended: contact your administrator',
  ambiguousName:
    'This login name matches more than one idv account (in different case): log in with the exact name',
  revoked:
    "This machine's idv registration was revoked: logins that need a code are refused here; contact your administrator",
  unknownDenied: 'This account is not allowed to log in here: contact your administrator',
  neverSynced:
    'Cannot check your code: this machine has not synchronised with the idv server yet; contact your administrator',
  stale:
    'Cannot check your code: this machine has been offline too long; contact your administrator',
  failOpen: 'Code check unavailable; login allowed by policy',
  tooManyLogins:
    'Too many logins of this account are waiting for a code: finish or cancel one first',
  noMorePrompts: 'No more codes can be tried in this login',
  notPrompted: 'No code was asked for in this login',
  recoveryAccepted: (left: number) =>
    `Recovery code accepted; ${left === 0 ? 'that was your last one' : `${left} ${left === 1 ? 'recovery code' : 'recovery codes'} left`}. If your phone is lost, set up a new one in the portal`,
} as const;
