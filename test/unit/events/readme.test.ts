import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REJECT_REASONS } from '../../../src/events/codec.js';
import { createMetrics } from '../../../src/metrics/metrics.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## NATS subject reference'), readme.indexOf('### Changing a message'));

describe('README: the NATS rejection reasons are the code', () => {
  it('lists every reason the edge decoder gives, in the order of its checks', () => {
    // The reason table's rows, less its header (`reason`) and its last row (the registry's).
    const rows = [...section.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]).filter((r) => r !== 'reason');
    expect(rows).toEqual([...REJECT_REASONS]);
  });

  it('the rejection metric names every one of them in its help', async () => {
    const help = (await createMetrics().registry.getSingleMetric('sbc_nats_messages_rejected_total')!.get()).help;
    for (const reason of REJECT_REASONS) expect(help).toMatch(new RegExp(`[(, ]${reason}[,)]`));
  });
});
