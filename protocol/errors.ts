/**
 * The one error-code catalog for idv-server, idvctl, idv-agent and idv-pam-helper.
 *
 * Codes are stable strings: scripts match on them (`--json` prints `{"error": {code, message}}`),
 * the HTTP API returns them in its 4xx/5xx bodies, and the agent returns them on its socket.
 * docs/errors.md documents every code; tests/unit/errors.test.ts fails when the two drift.
 */

export interface ErrorSpec {
  /** Default user-facing message; a call site may give a more precise one. */
  readonly message: string;
  /** True when the same request may succeed later without any change (server down, timeout). */
  readonly retryable: boolean;
  /** HTTP status when the error is returned by the admin API. */
  readonly status: number;
}

export const ERRORS = {
  // Wire and input parsing (every channel).
  MALFORMED_JSON: { message: 'The input is not valid JSON.', retryable: false, status: 400 },
  TOO_LARGE: { message: 'The input is larger than allowed.', retryable: false, status: 413 },
  UNKNOWN_TYPE: { message: 'The message type is unknown.', retryable: false, status: 400 },
  INVALID_MESSAGE: {
    message: 'The message does not match its schema.',
    retryable: false,
    status: 400,
  },
  PROTOCOL_VERSION: {
    message: 'The peer speaks an unsupported protocol version.',
    retryable: false,
    status: 400,
  },
  OUT_OF_ORDER: {
    message: 'The message was not expected at this point of the conversation.',
    retryable: false,
    status: 400,
  },
  VALIDATION_FAILED: { message: 'A field has an invalid value.', retryable: false, status: 400 },

  // Authentication and authorisation.
  UNAUTHORIZED: {
    message: 'Missing or invalid credentials.',
    retryable: false,
    status: 401,
  },
  FORBIDDEN: { message: 'Not allowed.', retryable: false, status: 403 },
  RATE_LIMITED: {
    message: 'Too many attempts; try again later.',
    retryable: true,
    status: 429,
  },

  // Resources.
  NOT_FOUND: { message: 'No such resource.', retryable: false, status: 404 },
  USER_NOT_FOUND: { message: 'No such user.', retryable: false, status: 404 },
  USER_EXISTS: { message: 'A user with this name already exists.', retryable: false, status: 409 },
  ADMIN_NOT_FOUND: { message: 'No such admin.', retryable: false, status: 404 },
  ADMIN_EXISTS: {
    message: 'An admin with this name already exists.',
    retryable: false,
    status: 409,
  },
  LAST_ADMIN: {
    message: 'The last active admin cannot be removed or given another role.',
    retryable: false,
    status: 409,
  },
  DEVICE_NOT_FOUND: { message: 'No such device.', retryable: false, status: 404 },
  DEVICE_REVOKED: { message: 'This device has been revoked.', retryable: false, status: 403 },
  TOKEN_INVALID: {
    message: 'The token is unknown, used up or expired.',
    retryable: false,
    status: 401,
  },
  NOT_ENROLLED: {
    message: 'The user has not set up an authenticator app.',
    retryable: false,
    status: 409,
  },
  ENROLLMENT_PENDING: {
    message: 'No enrollment is in progress for this user.',
    retryable: false,
    status: 409,
  },
  CODE_INVALID: { message: 'The code is not valid.', retryable: false, status: 400 },
  USER_LOCKED: { message: 'Too many failed attempts.', retryable: true, status: 423 },
  HELPDESK_UNAVAILABLE: {
    message: 'This device has no helpdesk secret yet: its agent gets one on connect.',
    retryable: false,
    status: 409,
  },

  // Configuration and operation.
  USAGE: { message: 'Wrong usage.', retryable: false, status: 400 },
  CONFIG_INVALID: { message: 'The configuration is invalid.', retryable: false, status: 500 },
  NOT_INITIALIZED: {
    message: 'The data directory is not initialised.',
    retryable: false,
    status: 500,
  },
  ALREADY_INITIALIZED: {
    message: 'The data directory is already initialised.',
    retryable: false,
    status: 409,
  },
  ALREADY_RUNNING: {
    message: 'Another instance is already running.',
    retryable: false,
    status: 409,
  },
  NOT_REGISTERED: {
    message: 'This agent is not registered with a server.',
    retryable: false,
    status: 409,
  },
  PERMISSION: { message: 'Insecure or wrong file permissions.', retryable: false, status: 500 },
  SERVER_UNREACHABLE: {
    message: 'The server cannot be reached.',
    retryable: true,
    status: 502,
  },
  AGENT_UNAVAILABLE: {
    message: 'The verification service is unavailable.',
    retryable: true,
    status: 503,
  },
  TIMEOUT: { message: 'The operation timed out.', retryable: true, status: 504 },
  SHUTTING_DOWN: { message: 'The service is shutting down.', retryable: true, status: 503 },
  OVERLOADED: {
    message: 'Too many connections; try again later.',
    retryable: true,
    status: 503,
  },
  NOT_CONFIGURED: {
    message: 'This feature is not configured on the server.',
    retryable: false,
    status: 409,
  },
  DIRECTORY_UNAVAILABLE: {
    message: 'The directory cannot be read; nothing was changed.',
    retryable: true,
    status: 502,
  },
  DIRECTORY_SUSPICIOUS: {
    message: "The directory's answer looks wrong; nothing was changed.",
    retryable: false,
    status: 409,
  },
  STORE_UNAVAILABLE: {
    message: 'The database is unavailable; try again shortly.',
    retryable: true,
    status: 503,
  },
  DISK_FULL: {
    message: "This machine's disk is full or read-only: logins cannot be recorded.",
    retryable: true,
    status: 507,
  },
  INTERNAL: { message: 'Internal error.', retryable: true, status: 500 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** The JSON shape every program prints or returns for an error. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** An error carrying a catalog code; thrown inside a program, turned into an ErrorBody at its edge. */
export class IdvError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly status: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'IdvError';
    this.code = code;
    this.retryable = ERRORS[code].retryable;
    this.status = ERRORS[code].status;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}
