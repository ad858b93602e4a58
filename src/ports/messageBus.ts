/**
 * The publishing and subscribing the control plane's consumers need, and nothing of the
 * NATS client beyond it. Adapter: nats/natsMessageBus.ts; fake: test/fakes/.
 */
export interface MessageBus {
  /** Queues one message; the client buffers it through a reconnect. */
  publish(subject: string, data: Uint8Array): void;
  /**
   * Delivers every message on `subject` (wildcards allowed) to `handle`, one at a time
   * in arrival order; with `queue`, each message goes to one member of the group.
   */
  consume(subject: string, options: { readonly queue?: string }, handle: (message: BusMessage) => Promise<void>): BusSubscription;
}

export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
}

export interface BusSubscription {
  /** Stops taking messages; resolves once the ones already received are handled. */
  drain(): Promise<void>;
}
