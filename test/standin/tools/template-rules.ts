/**
 * Which captured header values are call-specific, and the placeholder each becomes.
 * Placeholder meanings are implemented in ../channel-values.ts.
 */

export const CALL_A = { uuid: 'b543c7e7-6a53-45a4-a02d-66d38aaf9b40', dest: '9000' };
export const CALL_B = { uuid: 'b2b12f6f-1526-48bb-bc33-86b077148ccc', dest: '9002' };
/** A SIPp call into conference 3000 (first member, BYE while in the conference). */
export const CALL_C = { uuid: '7d3e7e8f-92af-4233-8e12-0f575d3d1431', dest: '3000' };

/** Strings from the conference template call that must not survive as literals. */
export const CONF_LEFTOVER_TOKENS = [CALL_C.uuid, '8f21df08', '5821', ':5070', '3000'];

/** Strings from the two template calls that must not survive as literals. */
export const LEFTOVER_TOKENS = [
  CALL_A.uuid, CALL_B.uuid, '5857', '6023', ':5070', ':5073', '9000', '9002', '5080', '179524', '2026',
  'SIPpTag', 'sipp', 'internal', 'yyt3rN2rjZSNr', '91gmcZUZj1e3Q', '16100', '16300', '17014', '28612', '2466707',
  '4df2b64c', 'ed792a49', '7a5e5f75', '9c4a552c', '7046a499',
];

const WHOLE: Record<string, string> = {
  'Unique-ID': '{{uuid}}',
  'Caller-Unique-ID': '{{uuid}}',
  'Channel-Call-UUID': '{{uuid}}',
  variable_uuid: '{{uuid}}',
  variable_call_uuid: '{{uuid}}',
  'Channel-Name': '{{channelName}}',
  'Caller-Channel-Name': '{{channelName}}',
  variable_channel_name: '{{channelName}}',
  'Channel-Presence-ID': '{{presenceId}}',
  variable_presence_id: '{{presenceId}}',
  from: '{{presenceId}}',
  'Caller-Username': '{{fromUser}}',
  'Caller-Caller-ID-Number': '{{fromUser}}',
  'Caller-Orig-Caller-ID-Number': '{{fromUser}}',
  'Caller-ANI': '{{fromUser}}',
  variable_sip_from_user: '{{fromUser}}',
  variable_sip_from_user_stripped: '{{fromUser}}',
  'Caller-Caller-ID-Name': '{{callerName}}',
  'Caller-Orig-Caller-ID-Name': '{{callerName}}',
  variable_sip_from_display: '{{fromDisplay}}',
  variable_caller_id: '"{{callerName}}" <{{fromUser}}>',
  'Caller-Network-Addr': '{{remoteIp}}',
  variable_sip_network_ip: '{{remoteIp}}',
  variable_sip_received_ip: '{{remoteIp}}',
  variable_sip_network_port: '{{remotePort}}',
  variable_sip_received_port: '{{remotePort}}',
  'Caller-Destination-Number': '{{dest}}',
  variable_DP_MATCH: 'ARRAY::{{dest}}|:{{dest}}',
  variable_session_id: '{{sessionId}}',
  variable_sip_call_id: '{{callId}}',
  variable_sip_from_tag: '{{fromTag}}',
  variable_sip_to_tag: '{{toTag}}',
  variable_sip_cseq: '{{inviteCseq}}',
  variable_sip_from_port: '{{fromPort}}',
  variable_sip_from_uri: '{{fromUri}}',
  variable_sip_from_host: '{{fromHost}}',
  variable_sip_full_from: '{{fullFrom}}',
  variable_sip_full_via: '{{fullVia}}',
  variable_sip_to_display: '{{toDisplay}}',
  variable_sip_req_user: '{{reqUser}}',
  variable_sip_req_port: '{{reqPort}}',
  variable_sip_req_uri: '{{reqUri}}',
  variable_sip_req_host: '{{reqHost}}',
  variable_sip_to_user: '{{toUser}}',
  variable_sip_to_port: '{{toPort}}',
  variable_sip_to_uri: '{{toUri}}',
  variable_sip_to_host: '{{toHost}}',
  variable_sip_contact_user: '{{contactUser}}',
  variable_sip_contact_port: '{{contactPort}}',
  variable_sip_contact_uri: '{{contactUri}}',
  variable_sip_contact_host: '{{contactHost}}',
  variable_sip_subject: '{{subject}}',
  variable_sip_via_host: '{{viaHost}}',
  variable_sip_via_port: '{{viaPort}}',
  variable_max_forwards: '{{maxForwards}}',
  variable_sofia_profile_name: '{{profile}}',
  variable_recovery_profile_name: '{{profile}}',
  variable_sofia_profile_url: 'sip:mod_sofia@{{sipHost}}:{{sipPort}}',
  variable_switch_r_sdp: '{{remoteSdp}}',
  variable_rtp_local_sdp_str: '{{localSdp}}',
  variable_local_media_port: '{{localMediaPort}}',
  variable_remote_media_port: '{{remoteMediaPort}}',
  variable_rtp_use_ssrc: '{{ssrc}}',
  variable_RFC2822_DATE: '{{rfc2822}}',
  'Application-UUID': '{{appUuid}}',
  'Hangup-Cause': '{{hangupCause}}',
  variable_hangup_cause: '{{hangupCause}}',
  variable_conference_name: '{{confName}}',
  variable_conference_uuid: '{{confUuid}}',
  variable_app_session_uuid: '{{confUuid}}',
  variable_conference_member_id: '{{memberId}}',
  variable_conference_call_key: 'conference_{{confName}}_{{remoteIp}}_{{fromUser}}',
  variable_hangup_cause_q850: '{{q850}}',
  variable_sip_term_cause: '{{q850}}',
  variable_sip_term_status: '{{termStatus}}',
  variable_proto_specific_hangup_cause: 'sip:{{termStatus}}',
  variable_sip_hangup_disposition: '{{hangupDisposition}}',
  variable_last_app: '{{lastApp}}',
  variable_last_arg: '{{lastArg}}',
  variable_playback_last_offset_pos: '{{playbackOffset}}',
  variable_playback_seconds: '{{playbackSeconds}}',
  variable_playback_ms: '{{playbackMs}}',
  variable_playback_samples: '{{playbackSamples}}',
  variable_rtp_audio_in_skip_packet_count: '{{inSkipPackets}}',
  variable_rtp_audio_out_raw_bytes: '{{outBytes}}',
  variable_rtp_audio_out_media_bytes: '{{outBytes}}',
  variable_rtp_audio_out_packet_count: '{{outPackets}}',
  variable_rtp_audio_out_media_packet_count: '{{outPackets}}',
  variable_duration: '{{durationS}}',
  variable_mduration: '{{durationMs}}',
  variable_uduration: '{{durationUs}}',
  variable_billsec: '{{billS}}',
  variable_billmsec: '{{billMs}}',
  variable_billusec: '{{billUs}}',
  variable_flow_billsec: '{{billS}}',
  variable_flow_billmsec: '{{billMs}}',
  variable_flow_billusec: '{{billUs}}',
  variable_answersec: '{{waitS}}',
  variable_answermsec: '{{waitMs}}',
  variable_answerusec: '{{waitUs}}',
  variable_waitsec: '{{waitS}}',
  variable_waitmsec: '{{waitMs}}',
  variable_waitusec: '{{waitUs}}',
  variable_progress_mediasec: '{{waitS}}',
  variable_progress_mediamsec: '{{waitMs}}',
  variable_progress_mediausec: '{{waitUs}}',
};

/** Times: 0 stays 0 (not yet happened); anything else becomes the moment's placeholder. */
const TIMES: Record<string, string> = {
  'Caller-Profile-Created-Time': '{{createdUs}}',
  'Caller-Channel-Created-Time': '{{createdUs}}',
  variable_sip_invite_stamp: '{{createdUs}}',
  variable_start_uepoch: '{{createdUs}}',
  variable_profile_start_uepoch: '{{createdUs}}',
  variable_start_epoch: '{{createdS}}',
  variable_profile_start_epoch: '{{createdS}}',
  variable_start_stamp: '{{createdStamp}}',
  variable_profile_start_stamp: '{{createdStamp}}',
  'Caller-Channel-Answered-Time': '{{answeredUs}}',
  variable_answer_uepoch: '{{answeredUs}}',
  variable_answer_epoch: '{{answeredS}}',
  variable_answer_stamp: '{{answeredStamp}}',
  'Caller-Channel-Progress-Media-Time': '{{answeredUs}}',
  variable_progress_media_uepoch: '{{answeredUs}}',
  variable_progress_media_epoch: '{{answeredS}}',
  variable_progress_media_stamp: '{{answeredStamp}}',
  'Caller-Channel-Hangup-Time': '{{hangupUs}}',
  variable_end_uepoch: '{{hangupUs}}',
  variable_end_epoch: '{{hangupS}}',
  variable_end_stamp: '{{hangupStamp}}',
};

/** Placeholder form of one captured header value. */
export function rule(name: string, value: string, call: { dest: string }): string {
  const time = TIMES[name];
  if (time !== undefined) return value === '0' ? value : time;
  if ((name === 'Application-Response' || name === 'variable_current_application_response') && value !== '_none_') {
    return '{{appResponse}}';
  }
  if (name === 'variable_sip_full_to') return value.includes(';tag=') ? '{{fullTo}};tag={{toTag}}' : '{{fullTo}}';
  const whole = WHOLE[name];
  if (whole !== undefined) return whole;
  if (name === 'Application-Data' || name === 'variable_current_application_data') {
    if (value === `${call.dest}@default`) return '{{confName}}@default';
    return value.replace(/^RFC2822_DATE=.*$/, 'RFC2822_DATE={{rfc2822}}');
  }
  if (value === call.dest) throw new Error(`${name} holds the destination number but has no rule`);
  return value;
}

/**
 * The main run's outbound sofia leg 65f4d1d9… (`originate {origination_caller_id_number=3001,
 * origination_caller_id_name=cascade-3001}sofia/internal/3000@127.0.0.1:5080 &conference(3001@default)`,
 * ended by uuid_kill). Its far end was the same server, so 5080 is both ports: by header name the
 * stand-in's own (sipPort) or the dialled one (targetPort).
 */
export const LEG = { uuid: '65f4d1d9-a8e3-42f7-b216-051f12a55f73', dest: '3000', cidName: 'cascade-3001', cidNumber: '3001' };

export const LEG_LEFTOVER_TOKENS = [
  LEG.uuid, 'c6e411c5', '3001', 'cascade-3001', '66496D9mU6BBN', '7Fy288SrrF2Xg', '2jBBmjSH1XBtp', '123069852',
  '1795247', '25782', '20298', '5080', '1795403088',
];

const LEG_WHOLE: Record<string, string> = {
  'Channel-Name': '{{channelName}}',
  'Caller-Channel-Name': '{{channelName}}',
  variable_channel_name: '{{channelName}}',
  'Caller-ANI': '{{origCallerNumber}}',
  'Caller-Orig-Caller-ID-Name': '{{origCallerName}}',
  'Caller-Orig-Caller-ID-Number': '{{origCallerNumber}}',
  'Caller-Destination-Number': '{{dest}}',
  variable_origination_caller_id_name: '{{origCallerName}}',
  variable_origination_caller_id_number: '{{origCallerNumber}}',
  variable_pre_transfer_caller_id_name: '{{origCallerName}}',
  variable_pre_transfer_caller_id_number: '{{origCallerNumber}}',
  variable_caller_id: '"{{dest}}" <{{dest}}>',
  variable_conference_call_key: 'conference_{{confName}}_{{remoteIp}}_{{dest}}',
  'Application-Data': '{{confApp}}',
  variable_current_application_data: '{{confApp}}',
  variable_last_arg: '{{confApp}}',
  variable_sip_destination_url: 'sip:{{dest}}@{{remoteIp}}:{{remotePort}}',
  variable_sip_outgoing_contact_uri: '<sip:mod_sofia@{{sipHost}}:{{sipPort}}>',
  variable_sip_req_uri: '{{dest}}@{{remoteIp}}:{{remotePort}}',
  variable_sip_from_host: '{{sipHost}}',
  variable_sip_reply_host: '{{remoteIp}}',
  variable_sip_reply_port: '{{remotePort}}',
  variable_sip_user_agent: '{{farUserAgent}}',
  variable_sip_allow: '{{farAllow}}',
  variable_sip_recover_contact: '<sip:{{dest}}@{{remoteIp}}:{{remotePort}};transport=udp>',
  variable_sip_full_via: 'SIP/2.0/UDP {{sipHost}}:{{sipPort}};rport={{sipPort}};branch={{viaBranch}}',
  variable_sip_recover_via: 'SIP/2.0/UDP {{sipHost}}:{{sipPort}};rport={{sipPort}};branch={{viaBranch}}',
  variable_sip_full_from: '"{{origCallerName}}" <sip:{{origCallerNumber}}@{{sipHost}}>;tag={{fromTag}}',
  variable_sip_full_to: '<sip:{{dest}}@{{remoteIp}}:{{remotePort}}>;tag={{toTag}}',
  variable_sip_from_user: '{{origCallerNumber}}',
  variable_sip_from_uri: '{{origCallerNumber}}@{{sipHost}}',
  variable_sip_from_display: '{{origCallerName}}',
  variable_sip_to_user: '{{dest}}',
  variable_sip_to_port: '{{remotePort}}',
  variable_sip_to_uri: '{{dest}}@{{remoteIp}}:{{remotePort}}',
  variable_sip_contact_user: '{{dest}}',
  variable_sip_contact_port: '{{remotePort}}',
  variable_sip_contact_uri: '{{dest}}@{{remoteIp}}:{{remotePort}}',
  variable_sip_contact_host: '{{remoteIp}}',
  variable_sip_call_id: '{{uuid}}',
  variable_sip_profile_name: '{{profile}}',
};

/** Placeholder form of one header value of the captured outbound leg. */
export function legRule(name: string, value: string): string {
  const whole = LEG_WHOLE[name];
  if (whole !== undefined) return whole;
  if (name === 'variable_sip_to_host') return value.includes(':') ? '{{remoteIp}}:{{remotePort}}' : '{{remoteIp}}';
  if (/^Caller-(Caller|Callee)-ID-(Name|Number)$/.test(name)) {
    if (value === LEG.cidName) return '{{origCallerName}}';
    if (value === LEG.cidNumber) return '{{origCallerNumber}}';
    if (value === LEG.dest) return '{{dest}}';
    return value; // "Outbound Call", the callee name before the answer
  }
  return rule(name, value, LEG);
}
