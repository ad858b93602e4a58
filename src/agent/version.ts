/**
 * Reported in every joined/heartbeat message. Kept equal to package.json's version by a unit
 * test, because the built agent runs from dist/ where package.json is not beside it.
 */
export const AGENT_VERSION = '0.1.0';
