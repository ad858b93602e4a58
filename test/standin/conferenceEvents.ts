import { getHeader, type EslEvent } from './esl-frames.js';

/** Reading events in the conference tests: a header, the header names, conference::maintenance actions. */
export const h = (e: EslEvent | undefined, n: string): string | undefined => (e ? getHeader(e.headers, n) : undefined);
export const names = (e: EslEvent): string[] => e.headers.map(([k]) => k);
export const nonVarNames = (e: EslEvent): string[] => names(e).filter((k) => !k.startsWith('variable_'));
export const isConf = (e: EslEvent): boolean => h(e, 'Event-Subclass') === 'conference::maintenance';
export const action = (a: string) => (e: EslEvent): boolean => isConf(e) && h(e, 'Action') === a;
