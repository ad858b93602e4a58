// Prints the configuration reference tables that README.md embeds, generated from the
// same specs the programs parse their environment with:  npx tsx scripts/config-reference.ts
import { agentConfigSpec } from '../src/config/agent.js';
import { controlPlaneSpec } from '../src/config/controlPlane.js';
import { describeSpec } from '../src/config/env.js';

export function configReference(): string {
  return [
    '### Control plane (`node dist/src/main.js`)',
    '',
    describeSpec(controlPlaneSpec),
    '',
    '### Agent (`node dist/src/agent/main.js`, one beside each FreeSWITCH)',
    '',
    describeSpec(agentConfigSpec),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${configReference()}\n`);
