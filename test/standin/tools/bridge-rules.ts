/**
 * Which header values of the captured bridged call are call-specific, and the placeholder each
 * becomes (fixture README, main run step 4: SIPp to `8000`, `bridge sofia/internal/9000@127.0.0.1:5080`
 * back into the same server). Placeholders are resolved per leg by ../bridge-values.ts: `{{uuid}}`
 * is the leg's own UUID, `{{otherUuid}}` the other leg's, and so on.
 */
import { rule } from './template-rules.js';

/** The inbound A leg (SIPp's call), the outbound B leg, and the B leg's INVITE arriving back (the twin). */
export const BRIDGE = {
  a: 'e64dddbd-f757-419c-8e3a-0ed58a9e3b4d',
  b: '94183bc3-9192-4a70-9864-bafbdd41a17f',
  twin: 'e617b973-50cd-4349-ae2e-bf49ff4e83fe',
  aDest: '8000',
  bDest: '9000',
};

/** Strings of the captured bridged call that must not survive as literals. */
export const BRIDGE_LEFTOVER_TOKENS = [
  BRIDGE.a, BRIDGE.b, BRIDGE.twin, 'e64dddbd', '94183bc3', 'e617b973', '5894', ':5071', '8000@', '8000 <', '9000', '5080', '1795247', '2026',
  'SIPpTag', 'internal', '0gDNvB4ZcH6tF', '1S6Dy6m39SvDB', 'Z7KvtgKvF8F8K', 'UKtX7m3rNZFQN', '123069846', '26858', '21992', '28682',
  '16400', '2265402244', '2466883604', '53655765', '1795220418',
];

/** Headers both legs map the same way (the bridge, the other leg, bridge times). */
const SHARED: Record<string, string> = {
  'Other-Leg-Unique-ID': '{{otherUuid}}',
  'Other-Leg-Channel-Name': '{{otherChannelName}}',
  'Other-Leg-Destination-Number': '{{otherDest}}',
  'Bridged-To': '{{otherUuid}}',
  'Bridge-A-Unique-ID': '{{aUuid}}',
  'Bridge-B-Unique-ID': '{{bUuid}}',
  variable_bridge_to: '{{otherUuid}}',
  variable_last_bridge_to: '{{otherUuid}}',
  variable_bridge_uuid: '{{otherUuid}}',
  variable_signal_bond: '{{otherUuid}}',
  variable_bridge_channel: '{{otherChannelName}}',
  variable_bridge_hangup_cause: '{{bridgeHangupCause}}',
  variable_RFC2822_DATE: '{{rfc2822}}',
  // The other leg's remote SDP: A's offer on B, the far end's answer on A.
  variable_switch_m_sdp: '{{otherRemoteSdp}}',
};

/** Moments that are 0 until they happen (as template-rules.ts TIMES), here the bridge's. */
const BRIDGE_TIMES: Record<string, string> = {
  'Caller-Channel-Bridged-Time': '{{bridgedUs}}',
  variable_bridge_uepoch: '{{bridgedUs}}',
  variable_bridge_epoch: '{{bridgedS}}',
  variable_bridge_stamp: '{{bridgedStamp}}',
  'Other-Leg-Profile-Created-Time': '{{otherCreatedUs}}',
  'Other-Leg-Channel-Created-Time': '{{otherCreatedUs}}',
  'Other-Leg-Channel-Answered-Time': '{{otherAnsweredUs}}',
  'Other-Leg-Channel-Progress-Media-Time': '{{otherAnsweredUs}}',
  'Other-Leg-Channel-Bridged-Time': '{{otherBridgedUs}}',
  'Other-Leg-Channel-Hangup-Time': '{{otherHangupUs}}',
};

/** 8000 is also the codec rate (the A leg's number is 8000): rates are never call-specific. */
const RATE = /(^Channel-(Read|Write)-Codec-Rate|_rate)$/i;

function shared(name: string, value: string): string | undefined {
  if (RATE.test(name)) return value;
  const time = BRIDGE_TIMES[name];
  if (time !== undefined) return value === '0' ? value : time;
  return SHARED[name];
}

/** The A leg: an inbound SIP channel like the tone calls (template-rules.ts), plus the bridge. */
const A_WHOLE: Record<string, string> = {
  // The dialplan's `^8(\d{3})$`: DP_MATCH holds the number and the captured digits.
  variable_DP_MATCH: 'ARRAY::{{dest}}|:{{dpMatch}}',
  'Application-Data': '{{appData}}',
  variable_current_application_data: '{{appData}}',
  variable_last_arg: '{{appData}}',
  'Caller-Callee-ID-Name': '{{otherDest}}',
  'Caller-Callee-ID-Number': '{{otherDest}}',
  'Sent-Callee-ID-Name': '{{otherDest}}',
  'Sent-Callee-ID-Number': '{{otherDest}}',
  'Other-Leg-Callee-ID-Name': '{{otherDest}}',
  'Other-Leg-Callee-ID-Number': '{{otherDest}}',
  variable_last_sent_callee_id_name: '{{otherDest}}',
  variable_last_sent_callee_id_number: '{{otherDest}}',
  // The B leg's caller profile is a copy of A's: the same caller id and network address.
  'Other-Leg-Username': '{{fromUser}}',
  'Other-Leg-Caller-ID-Name': '{{callerName}}',
  'Other-Leg-Caller-ID-Number': '{{fromUser}}',
  'Other-Leg-Orig-Caller-ID-Name': '{{callerName}}',
  'Other-Leg-Orig-Caller-ID-Number': '{{fromUser}}',
  'Other-Leg-ANI': '{{fromUser}}',
  'Other-Leg-Network-Addr': '{{remoteIp}}',
  variable_originated_legs: '{{otherUuid}};Outbound Call;{{otherDest}}',
  variable_originate_causes: '{{otherUuid}};NONE',
  variable_originate_signal_bond: '{{otherUuid}}',
};

export function bridgeARule(name: string, value: string): string {
  const s = shared(name, value);
  if (s !== undefined) return s;
  const whole = A_WHOLE[name];
  if (whole !== undefined) return whole;
  return rule(name, value, { dest: BRIDGE.aDest });
}

/**
 * The B leg: an outbound sofia channel to `{{dest}}@{{targetHost}}:{{targetPort}}` whose caller
 * profile is A's (caller id `sipp`), its SIP values those of the INVITE it sent and the 200 OK it got.
 */
const B_WHOLE: Record<string, string> = {
  'Channel-Name': '{{channelName}}',
  'Caller-Channel-Name': '{{channelName}}',
  variable_channel_name: '{{channelName}}',
  'Caller-Callee-ID-Name': '{{dest}}',
  'Caller-Callee-ID-Number': '{{dest}}',
  'Caller-Destination-Number': '{{dest}}',
  'Caller-Network-Addr': '{{callerAddr}}',
  'Sent-Callee-ID-Name': '{{callerName}}',
  'Sent-Callee-ID-Number': '{{fromUser}}',
  'Other-Leg-Username': '{{fromUser}}',
  'Other-Leg-Caller-ID-Name': '{{callerName}}',
  'Other-Leg-Caller-ID-Number': '{{fromUser}}',
  'Other-Leg-Orig-Caller-ID-Name': '{{callerName}}',
  'Other-Leg-Orig-Caller-ID-Number': '{{fromUser}}',
  'Other-Leg-ANI': '{{fromUser}}',
  'Other-Leg-Network-Addr': '{{callerAddr}}',
  variable_last_sent_callee_id_name: '{{callerName}}',
  variable_last_sent_callee_id_number: '{{fromUser}}',
  variable_caller_id: '"{{callerName}}" <{{fromUser}}>',
  variable_originator: '{{otherUuid}}',
  variable_originating_leg_uuid: '{{otherUuid}}',
  variable_sip_destination_url: 'sip:{{dest}}@{{targetHost}}:{{targetPort}}',
  variable_sip_req_uri: '{{dest}}@{{targetHost}}:{{targetPort}}',
  variable_sip_outgoing_contact_uri: '<sip:mod_sofia@{{sipHost}}:{{sipPort}}>',
  variable_sip_from_host: '{{sipHost}}',
  variable_sip_reply_host: '{{targetHost}}',
  variable_sip_reply_port: '{{targetPort}}',
  variable_sip_network_ip: '{{targetHost}}',
  variable_sip_network_port: '{{targetPort}}',
  variable_sip_user_agent: '{{farUserAgent}}',
  variable_sip_allow: '{{farAllow}}',
  variable_sip_recover_contact: '<sip:{{contactUser}}@{{contactHost}}:{{contactPort}};transport=udp>',
  variable_sip_full_via: 'SIP/2.0/UDP {{sipHost}}:{{sipPort}};rport={{sipPort}};branch={{viaBranch}}',
  variable_sip_recover_via: 'SIP/2.0/UDP {{sipHost}}:{{sipPort}};rport={{sipPort}};branch={{viaBranch}}',
  variable_sip_full_from: '"{{callerName}}" <sip:{{fromUser}}@{{sipHost}}>;tag={{fromTag}}',
  variable_sip_full_to: '<sip:{{dest}}@{{targetHost}}:{{targetPort}}>;tag={{toTag}}',
  variable_sip_from_uri: '{{fromUser}}@{{sipHost}}',
  variable_sip_to_user: '{{dest}}',
  variable_sip_to_port: '{{targetPort}}',
  variable_sip_to_uri: '{{dest}}@{{targetHost}}:{{targetPort}}',
  variable_sip_contact_user: '{{contactUser}}',
  variable_sip_contact_port: '{{contactPort}}',
  variable_sip_contact_uri: '{{contactUser}}@{{contactHost}}:{{contactPort}}',
  variable_sip_contact_host: '{{contactHost}}',
  variable_sip_call_id: '{{uuid}}',
  variable_sip_profile_name: '{{profile}}',
  variable_last_bridge_hangup_cause: '{{otherHangupCause}}',
  variable_last_bridge_proto_specific_hangup_cause: 'sip:{{otherTermStatus}}',
};

export function bridgeBRule(name: string, value: string): string {
  const s = shared(name, value);
  if (s !== undefined) return s;
  // The B leg's call UUID is A's while bridged, its own before and after (fixture README).
  if (name === 'Channel-Call-UUID' || name === 'variable_call_uuid') return value === BRIDGE.b ? '{{uuid}}' : value === BRIDGE.a ? '{{otherUuid}}' : value;
  const whole = B_WHOLE[name];
  if (whole !== undefined) return whole;
  if (name === 'variable_sip_to_host') return value.includes(':') ? '{{targetHost}}:{{targetPort}}' : '{{targetHost}}';
  return rule(name, value, { dest: BRIDGE.bDest });
}
