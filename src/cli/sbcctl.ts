#!/usr/bin/env node
/**
 * sbcctl: the operator's CLI for the control plane's HTTP API (`sbcctl --help`).
 * From source: `npm run sbcctl -- rooms`; built: `node dist/src/cli/sbcctl.js rooms` (or
 * `sbcctl` once the package's bin is linked). Everything lives in run(); this file only
 * hands it the process.
 */
import { run } from './run.js';

// The CLI's own configuration, read once here and handed to run(): sbcctl is not the control
// plane, so src/config (the server's variables) has nothing for it.
// eslint-disable-next-line no-restricted-properties
const { SBC_API_URL, SBC_API_TOKEN, SBCCTL_CONFIG, XDG_CONFIG_HOME, HOME } = process.env;
const env = { SBC_API_URL, SBC_API_TOKEN, SBCCTL_CONFIG, XDG_CONFIG_HOME, HOME };

// `sbcctl rooms | head -1`: a reader that has seen enough is no failure.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env });
