/**
 * Every control plane subscribes to node messages in this queue group, so NATS hands each
 * message to one of them: while two run at once (an old one not yet stopped during a
 * redeploy) a message is applied once, and the registry's compare-and-set keeps their
 * writes apart. Running several side by side is not a load-sharing set-up: each has its
 * own reconciler and paces only its own reloads.
 */
export const QUEUE_GROUP = 'sbc-control-plane';
