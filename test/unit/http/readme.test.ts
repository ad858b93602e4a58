import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeErrors, HTTP_ERRORS } from '../../../src/http/errors.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

describe('README: the HTTP error table is the code\'s', () => {
  it('lists exactly the error codes of src/http/errors.ts, each with its status', () => {
    const section = readme.slice(readme.indexOf('## HTTP API'), readme.indexOf('## Configuration reference'));
    const rows = [...section.matchAll(/^\| (\d{3}) \| `([a-z-]+)` \|/gm)].map((m) => [m[2], Number(m[1])]);
    expect(rows).toEqual(Object.entries(HTTP_ERRORS).map(([code, e]) => [code, e.status]));
  });

  it('embeds the table generated from the code: when, and every error class and code mapped to each row', () => {
    const section = /<!-- http-errors:start -->\n([\s\S]*?)\n<!-- http-errors:end -->/.exec(readme)?.[1];
    expect(section).toBe(describeErrors());
    expect(describeErrors()).toContain('| 404 | `not-found` | no route for the path, or no node, room, room policy, call or API token with that id | `NodeNotFoundError`, `RoomNotFoundError`, `RoomPolicyNotFoundError`, `CallNotFoundError`, `TokenNotFoundError`, `RouteNotFoundError`, `FST_ERR_NOT_FOUND` |');
    expect(describeErrors()).toContain("| `FST_ERR_CTP_INVALID_CONTENT_LENGTH`, any other refusal of Node's HTTP parser (`HPE_*`) |");
  });
});
