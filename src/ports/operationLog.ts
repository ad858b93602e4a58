/**
 * The audit log of what operators and the control plane did to the pool: every drain,
 * undrain, scale decision, provisioner action, forced hang-up and API token created or revoked, with who asked, when, what
 * and how it ended. Durable (Postgres: postgres/operationLog.ts); listed by
 * `GET /v1/operations`. Fake: test/fakes/inMemoryOperationLog.ts.
 */
export const OPERATION_KINDS = ['drain', 'undrain', 'scale', 'provision', 'hangup', 'pause', 'resume', 'token-create', 'token-revoke'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

export const OPERATION_OUTCOMES = ['requested', 'done', 'failed', 'refused'] as const;
export type OperationOutcome = (typeof OPERATION_OUTCOMES)[number];

export interface OperationEntry {
  readonly kind: OperationKind;
  /** Who: `api:<client address>` or `token:<name>` when the API call carried a token, `leader:<replica>`, `autoscaler`. */
  readonly actor: string;
  /** What it was done to: a node id, a machine id, `pool`. */
  readonly target: string;
  readonly outcome: OperationOutcome;
  /** Facts of the operation (the deadline, the replicas asked, the cause, the error): JSON. */
  readonly detail: Readonly<Record<string, unknown>>;
  /** When, ms since the epoch. */
  readonly at: number;
}

export interface StoredOperation extends OperationEntry {
  /** Ascending in insertion order. */
  readonly id: number;
}

export interface OperationFilter {
  readonly kind?: OperationKind;
  readonly target?: string;
  /** 1..500 */
  readonly limit: number;
  /** From a previous page's `next`. */
  readonly cursor?: string;
}

export interface OperationPage {
  /** Newest first. */
  readonly operations: readonly StoredOperation[];
  /** The cursor of the next (older) page; absent on the last page. */
  readonly next?: string;
}

export interface OperationLog {
  record(entry: OperationEntry): Promise<StoredOperation>;
  list(filter: OperationFilter): Promise<OperationPage>;
}

/**
 * Records `entry` and never throws: the operation it describes has already happened, so a
 * failed audit write is logged (with the entry) and the caller carries on.
 */
export async function recordOperation(
  log: Pick<OperationLog, 'record'> | undefined,
  entry: OperationEntry,
  logger: { error(obj: object, msg: string): void },
): Promise<void> {
  if (!log) return;
  try {
    await log.record(entry);
  } catch (err) {
    logger.error({ err: (err as Error).message, operation: entry }, 'could not store an operation in the audit log');
  }
}
