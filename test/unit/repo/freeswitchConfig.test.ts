import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agentConfigSpec } from '../../../src/config/agent.js';
import { controlPlaneSpec } from '../../../src/config/controlPlane.js';

const root = new URL('../../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

/**
 * Just enough XML for FreeSWITCH configuration files: elements, double-quoted attributes,
 * comments. Strict where it matters: an unclosed, mismatched or stray tag throws, so a broken
 * file fails here rather than when FreeSWITCH loads it (and ignores the profile).
 */
function parseXml(text: string): XmlElement {
  const body = text.replace(/<!--[\s\S]*?-->/g, '').replace(/<\?xml[^>]*\?>/, '');
  const top: XmlElement = { name: '#document', attrs: {}, children: [] };
  const stack = [top];
  const tag = /<(\/?)([A-Za-z][\w.-]*)((?:\s+[\w.-]+="[^"]*")*)\s*(\/?)>/g;
  let at = 0;
  for (const m of body.matchAll(tag)) {
    const between = body.slice(at, m.index);
    if (/[<>]/.test(between) || between.trim() !== '') throw new Error(`unexpected text before <${m[2]}>: ${between.trim().slice(0, 40)}`);
    at = m.index + m[0].length;
    const [, closing, name = '', attrText = '', selfClosing] = m;
    const parent = stack[stack.length - 1]!;
    if (closing) {
      if (parent.name !== name) throw new Error(`</${name}> closes <${parent.name}>`);
      stack.pop();
      continue;
    }
    const attrs = Object.fromEntries([...attrText.matchAll(/([\w.-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!]));
    const el: XmlElement = { name, attrs, children: [] };
    parent.children.push(el);
    if (!selfClosing) stack.push(el);
  }
  if (body.slice(at).trim() !== '') throw new Error('text after the last tag');
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]!.name}> is not closed`);
  if (top.children.length !== 1) throw new Error('more than one root element');
  return top.children[0]!;
}

const child = (el: XmlElement, name: string) => {
  const found = el.children.filter((c) => c.name === name);
  if (found.length !== 1) throw new Error(`<${el.name}> has ${found.length} <${name}>`);
  return found[0]!;
};

/** A profile's settings; sofia reads them in order and the last one wins, so each must appear once. */
function settings(profile: XmlElement): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of child(profile, 'settings').children) {
    const name = p.attrs.name ?? '';
    if (p.name !== 'param') throw new Error(`<${p.name}> in <settings>`);
    if (out.has(name)) throw new Error(`param ${name} set twice`);
    out.set(name, p.attrs.value ?? '');
  }
  return out;
}

const profileXml = read('freeswitch/conf/sip_profiles/internal.xml');
const aclXml = read('freeswitch/conf/autoload_configs/acl.conf.xml');
const readme = read('freeswitch/README.md');

/** Read inside each test, so a broken file fails the tests with its reason. */
function load(): { profile: XmlElement; params: Map<string, string> } {
  const profile = parseXml(profileXml);
  return { profile, params: settings(profile) };
}

describe('freeswitch/conf: the media node SIP profile', () => {
  it('outbound legs take their UUID as Call-ID, inbound legs never take the Call-ID as UUID, RTP is paced by the soft timer', () => {
    const { params } = load();
    expect(params.get('outbound-use-uuid-as-callid')).toBe('true');
    expect(params.get('inbound-use-callid-as-uuid')).toBe('false');
    expect(params.get('rtp-timer-name')).toBe('soft');
  });

  it('is the profile the agent reads by default, on port 5060, with its addresses from variables', () => {
    const { profile, params } = load();
    expect(profile.name).toBe('profile');
    expect(profile.attrs.name).toBe(agentConfigSpec.SBC_FS_SIP_PROFILE.default);
    expect(params.get('sip-port')).toBe('5060');
    expect(params.get('ext-sip-ip')).toMatch(/^\$\$\{\w+\}$/);
    expect(params.get('ext-rtp-ip')).toMatch(/^\$\$\{\w+\}$/);
    expect(params.get('context')).toBe('public');
  });

  it('takes calls from Kamailio only: its inbound ACL is a deny-by-default list of acl.conf.xml, no digest fallback, no registrations', () => {
    const { params } = load();
    const acl = params.get('apply-inbound-acl') ?? '';
    const lists = child(parseXml(aclXml), 'network-lists').children.filter((l) => l.name === 'list');
    const list = lists.find((l) => l.attrs.name === acl);
    expect(list, `acl.conf.xml has no list "${acl}"`).toBeDefined();
    expect(list?.attrs.default).toBe('deny');
    expect(list?.children.map((n) => [n.name, n.attrs.type])).toEqual([['node', 'allow']]);
    expect(params.get('auth-calls')).toBe('false');
    expect(params.get('disable-register')).toBe('true');
  });

  it('every $${variable} the files use is explained in freeswitch/README.md (local_ip_v4 is built in)', () => {
    const used = new Set([...`${profileXml}\n${aclXml}`.replace(/<!--[\s\S]*?-->/g, '').matchAll(/\$\$\{(\w+)\}/g)].map((m) => m[1]!));
    expect([...used].sort()).toEqual(['external_rtp_ip', 'external_sip_ip', 'kamailio_cidr', 'local_ip_v4']);
    for (const name of used) expect(readme, name).toContain(name);
  });

  it('the reader refuses a broken file (so a typo fails here, not in FreeSWITCH)', () => {
    expect(() => parseXml('<profile name="x"><settings></profile>')).toThrow('</profile> closes <settings>');
    expect(() => parseXml('<profile name="x"><settings>')).toThrow('not closed');
    expect(() => parseXml('<profile name="x"><param name="a" value="b"></profile>')).toThrow();
    expect(parseXml('<!-- <bad> --><a k="v"><b/></a>')).toEqual({ name: 'a', attrs: { k: 'v' }, children: [{ name: 'b', attrs: {}, children: [] }] });
  });
});

describe('freeswitch/conf: event socket, heartbeat and the dialplan', () => {
  const actions = (ext: XmlElement) => ext.children.flatMap((c) => c.children).filter((a) => a.name === 'action').map((a) => [a.attrs.application, a.attrs.data]);

  it('the event socket listens on loopback only, with the secret from the environment (never the stock ClueCon)', () => {
    const es = settings(parseXml(read('freeswitch/conf/autoload_configs/event_socket.conf.xml')));
    expect([es.get('listen-ip'), es.get('listen-port'), es.get('password')]).toEqual(['127.0.0.1', '8021', '$${esl_password}']);
    expect(read('freeswitch/conf/autoload_configs/event_socket.conf.xml')).not.toMatch(/value="ClueCon"/);
  });

  it('HEARTBEAT events come every few seconds: the health sensors read them', () => {
    const sw = settings(parseXml(read('freeswitch/conf/autoload_configs/switch.conf.xml')));
    const every = Number(sw.get('event-heartbeat-interval'));
    expect(every).toBeGreaterThanOrEqual(1);
    expect(every).toBeLessThanOrEqual(20);
  });

  it('a cascade link leg joins without music on hold, silently, and ends when its media stops; it is matched before a room caller', () => {
    const plan = parseXml(read('freeswitch/conf/dialplan/public/00_sbc.xml'));
    const names = plan.children.map((e) => e.attrs.name);
    expect(names).toEqual(['sbc-cascade-link', 'sbc-room', 'sbc-call']);
    const link = actions(plan.children[0]!);
    expect(link).toEqual(expect.arrayContaining([
      ['set', 'conference_member_flags=nomoh'],
      ['set', 'conference_enter_sound=silence_stream://20'],
      ['set', 'conference_exit_sound=silence_stream://20'],
      ['set', `media_timeout=${controlPlaneSpec.SBC_ROOM_LINK_MEDIA_TIMEOUT_MS.default}`],
      ['conference', '$1@sbc+flags{nomoh}'],
    ]));
    // A room's caller joins the room key Kamailio stamped (X-SBC-Room), in the sbc profile.
    expect(actions(plan.children[1]!)).toEqual([['answer', undefined], ['conference', '$1@sbc']]);
    const conference = parseXml(read('freeswitch/conf/autoload_configs/conference.conf.xml'));
    expect(JSON.stringify(conference)).toContain('"name":"sbc"');
  });
});
