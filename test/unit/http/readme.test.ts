import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HTTP_ERRORS } from '../../../src/http/errors.js';

describe('README: the HTTP error table is the code\'s', () => {
  it('lists exactly the error codes of src/http/errors.ts, each with its status', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## HTTP API'), readme.indexOf('## Configuration reference'));
    const rows = [...section.matchAll(/^\| (\d{3}) \| `([a-z-]+)` \|/gm)].map((m) => [m[2], Number(m[1])]);
    expect(rows).toEqual(Object.entries(HTTP_ERRORS).map(([code, e]) => [code, e.status]));
  });
});
