/**
 * Why a message was refused at the edge, in the order the checks are made; also the
 * `reason` label of the rejection metric, so each is listed in README ("NATS subject
 * reference") and none may ever be renamed.
 */
export const REJECT_REASONS = [
  'subject',
  'unknown-kind',
  'too-large',
  'json',
  'schema',
  'unsupported-version',
  'sip-uri',
  'node-id-mismatch',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; detail: string };
