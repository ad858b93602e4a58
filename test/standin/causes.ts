/**
 * Hang-up causes as FreeSWITCH numbers and maps them (no capture shows most of these; each table
 * names the source it follows, signalwire/freeswitch as stored).
 */

/** switch_call_cause_t (switch_types.h) of the causes the stand-in hangs up with. */
export const CAUSE_CODE: Readonly<Record<string, number>> = {
  UNALLOCATED_NUMBER: 1, NO_ROUTE_DESTINATION: 3, NORMAL_CLEARING: 16, USER_BUSY: 17, NO_USER_RESPONSE: 18,
  NO_ANSWER: 19, CALL_REJECTED: 21, NUMBER_CHANGED: 22, EXCHANGE_ROUTING_ERROR: 25, DESTINATION_OUT_OF_ORDER: 27,
  INVALID_NUMBER_FORMAT: 28, NORMAL_UNSPECIFIED: 31, NETWORK_OUT_OF_ORDER: 38, NORMAL_TEMPORARY_FAILURE: 41,
  SERVICE_UNAVAILABLE: 63, CHAN_NOT_IMPLEMENTED: 66, SERVICE_NOT_IMPLEMENTED: 79, INCOMPATIBLE_DESTINATION: 88,
  RECOVERY_ON_TIMER_EXPIRE: 102, INTERWORKING: 127, ORIGINATOR_CANCEL: 487, SYSTEM_SHUTDOWN: 501,
  MANAGER_REQUEST: 503, ALLOTTED_TIMEOUT: 602, MEDIA_TIMEOUT: 604,
};

/** switch_channel_cause_q850(): the cause itself when it is a Q.850 one, NORMAL_CLEARING (16) otherwise. */
export function q850(cause: string): number {
  const code = CAUSE_CODE[cause] ?? 16;
  return code < 128 ? code : 16;
}

/**
 * sofia_glue_sip_cause_to_freeswitch() (sofia_glue.c, "map sip responses to QSIG cause codes ala
 * RFC4497 section 8.4.4"): the hangup cause a final SIP response becomes.
 */
export function sipStatusCause(status: number): string {
  const map: Record<number, string> = {
    200: 'NORMAL_CLEARING',
    401: 'CALL_REJECTED', 402: 'CALL_REJECTED', 403: 'CALL_REJECTED', 407: 'CALL_REJECTED', 603: 'CALL_REJECTED',
    404: 'UNALLOCATED_NUMBER', 485: 'NO_ROUTE_DESTINATION', 604: 'NO_ROUTE_DESTINATION',
    408: 'RECOVERY_ON_TIMER_EXPIRE', 504: 'RECOVERY_ON_TIMER_EXPIRE', 410: 'NUMBER_CHANGED',
    413: 'INTERWORKING', 414: 'INTERWORKING', 416: 'INTERWORKING', 420: 'INTERWORKING', 421: 'INTERWORKING',
    423: 'INTERWORKING', 505: 'INTERWORKING', 513: 'INTERWORKING',
    480: 'NO_USER_RESPONSE', 400: 'NORMAL_TEMPORARY_FAILURE', 481: 'NORMAL_TEMPORARY_FAILURE',
    500: 'NORMAL_TEMPORARY_FAILURE', 503: 'NORMAL_TEMPORARY_FAILURE', 486: 'USER_BUSY', 600: 'USER_BUSY',
    484: 'INVALID_NUMBER_FORMAT', 488: 'INCOMPATIBLE_DESTINATION', 606: 'INCOMPATIBLE_DESTINATION',
    502: 'NETWORK_OUT_OF_ORDER', 405: 'SERVICE_UNAVAILABLE', 406: 'SERVICE_NOT_IMPLEMENTED',
    415: 'SERVICE_NOT_IMPLEMENTED', 501: 'SERVICE_NOT_IMPLEMENTED', 482: 'EXCHANGE_ROUTING_ERROR',
    483: 'EXCHANGE_ROUTING_ERROR', 487: 'ORIGINATOR_CANCEL',
  };
  return map[status] ?? 'NORMAL_UNSPECIFIED';
}

/**
 * mod_sofia.c hangup_cause_to_sip() for the causes the stand-in refuses INVITEs with; every other
 * cause (SYSTEM_SHUTDOWN, MANAGER_REQUEST, NORMAL_CLEARING, NORMAL_UNSPECIFIED…) falls to its default, 480.
 */
const SIP_FOR_CAUSE: Readonly<Record<string, number>> = {
  USER_BUSY: 486, CALL_REJECTED: 603, ORIGINATOR_CANCEL: 487, INCOMPATIBLE_DESTINATION: 488,
  NETWORK_OUT_OF_ORDER: 503, NORMAL_TEMPORARY_FAILURE: 503, SERVICE_NOT_IMPLEMENTED: 501,
  RECOVERY_ON_TIMER_EXPIRE: 504, EXCHANGE_ROUTING_ERROR: 483,
};
export function causeSipStatus(cause: string): number {
  return SIP_FOR_CAUSE[cause] ?? 480;
}

/** The reason phrase of the final responses the stand-in sends. */
export function reasonFor(status: number): string {
  return ({
    403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 410: 'Gone', 480: 'Temporarily Unavailable', 483: 'Too Many Hops',
    486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here', 500: 'Server Internal Error', 501: 'Not Implemented',
    502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Server Time-out', 600: 'Busy Everywhere', 603: 'Decline',
  } as Record<number, string>)[status] ?? 'Error';
}
