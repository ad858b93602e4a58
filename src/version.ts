/**
 * This package's version: reported by the agent in every joined/heartbeat message and by the
 * control plane's OpenAPI document. A constant, so nothing reads files at start-up (the built
 * programs run from dist/); a unit test keeps it equal to package.json's version.
 */
export const PACKAGE_VERSION = '0.1.0';
