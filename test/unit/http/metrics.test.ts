import { afterEach, describe, expect, it } from 'vitest';
import { node } from '../core/fixtures.js';
import { scrape, testApp, type TestApp } from './harness.js';

describe('HTTP request metrics', () => {
  let t: TestApp;
  afterEach(() => t.app.close());

  it('counts requests by route pattern, method and status, and times them by route and method', async () => {
    t = await testApp();
    await t.app.inject(`/v1/nodes/${node(1).nodeId}`);
    await t.app.inject(`/v1/nodes/${node(3).nodeId}`);
    await t.app.inject('/v1/nodes/11111111-1111-4111-8111-111111111111');
    await t.app.inject('/v1/nodes?state=active');
    await t.app.inject({ method: 'HEAD', url: '/v1/nodes' });
    const nodeRoute = { route: '/v1/nodes/:nodeId', method: 'GET' };
    expect(await scrape(t.app, 'sbc_http_requests_total', { ...nodeRoute, status: '200' })).toBe(
      'sbc_http_requests_total{route="/v1/nodes/:nodeId",method="GET",status="200"} 2',
    );
    expect(await scrape(t.app, 'sbc_http_requests_total', { ...nodeRoute, status: '404' })).toBe(
      'sbc_http_requests_total{route="/v1/nodes/:nodeId",method="GET",status="404"} 1',
    );
    expect(await scrape(t.app, 'sbc_http_requests_total', { route: '/v1/nodes', method: 'GET', status: '200' })).toBe(
      'sbc_http_requests_total{route="/v1/nodes",method="GET",status="200"} 1',
    );
    expect(await scrape(t.app, 'sbc_http_requests_total', { route: '/v1/nodes', method: 'HEAD', status: '200' })).toBe(
      'sbc_http_requests_total{route="/v1/nodes",method="HEAD",status="200"} 1',
    );
    expect(await scrape(t.app, 'sbc_http_request_duration_seconds_count', nodeRoute)).toBe(
      'sbc_http_request_duration_seconds_count{route="/v1/nodes/:nodeId",method="GET"} 3',
    );
    expect(await scrape(t.app, 'sbc_http_request_duration_seconds_bucket', { le: '+Inf', ...nodeRoute })).toBe(
      'sbc_http_request_duration_seconds_bucket{le="+Inf",route="/v1/nodes/:nodeId",method="GET"} 3',
    );
    // The scrapes above are requests too: six of them before this one.
    expect(await scrape(t.app, 'sbc_http_requests_total', { route: '/metrics', method: 'GET', status: '200' })).toBe(
      'sbc_http_requests_total{route="/metrics",method="GET",status="200"} 6',
    );
  });

  it('requests no route matched share one label, whatever the URL; raw URLs never become labels', async () => {
    t = await testApp();
    await t.app.inject('/v2/a');
    await t.app.inject('/v2/b/c?d=e');
    await t.app.inject({ method: 'DELETE', url: '/v1/nodes' });
    await t.app.inject('/v1/nodes/%E0%A4%A');
    expect(await scrape(t.app, 'sbc_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBe(
      'sbc_http_requests_total{route="unmatched",method="GET",status="404"} 2',
    );
    expect(await scrape(t.app, 'sbc_http_requests_total', { route: 'unmatched', method: 'DELETE', status: '405' })).toBe(
      'sbc_http_requests_total{route="unmatched",method="DELETE",status="405"} 1',
    );
    expect(await scrape(t.app, 'sbc_http_requests_total', { route: 'unmatched', method: 'GET', status: '400' })).toBe(
      'sbc_http_requests_total{route="unmatched",method="GET",status="400"} 1',
    );
    expect(await scrape(t.app, 'sbc_http_request_duration_seconds_count', { route: 'unmatched', method: 'GET' })).toBe(
      'sbc_http_request_duration_seconds_count{route="unmatched",method="GET"} 3',
    );
    const body = (await t.app.inject('/metrics')).body;
    const routes = new Set([...body.matchAll(/^sbc_http_requests_total\{route="([^"]*)"/gm)].map((m) => m[1]));
    expect([...routes].sort()).toEqual(['/metrics', 'unmatched']);
  });
});
