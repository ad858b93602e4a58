/** Several control planes share the node messages; each message is handled by one of them. */
export const QUEUE_GROUP = 'sbc-control-plane';
