/**
 * Versions.
 *
 * IDV_VERSION is the release (kept equal to package.json's by a unit test).
 *
 * PROTOCOL_VERSION is the wire protocol both channels speak (server ↔ agent, helper ↔ agent).
 * A peer refuses a different number with PROTOCOL_VERSION. Each bump is listed here:
 *   1 — first version: challenge/hello with Ed25519 proof, snapshot/delta/ack by revision,
 *       event batches; helper begin/verify; agent status/unlock.
 */
export const IDV_VERSION = '0.1.0';
export const PROTOCOL_VERSION = 1;
