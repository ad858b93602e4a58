import { parseCredsFile, parseNkeySeed, type NatsCredentials } from '../nats/auth.js';
import { readConfigFile, type VarSpec } from './env.js';

/** A file read and checked at start-up; unset means no credentials of that kind. */
const credentialFile = (description: string, read: (file: string, text: string) => NatsCredentials): VarSpec<NatsCredentials | null> => ({
  description,
  default: null,
  parse(raw) {
    const text = readConfigFile(raw);
    return read(raw, text);
  },
});

/**
 * How a program proves itself to NATS. Both programs declare these; at most one may be set.
 * Without either, the client connects without credentials, which a server configured as
 * README describes refuses.
 */
export const natsAuthSpec = {
  SBC_NATS_NKEY_FILE: credentialFile('File holding this program\'s NATS user nkey seed (SU...), made by `nats-credentials`; empty: no credentials', (file, text) => ({
    kind: 'nkey',
    file,
    seed: parseNkeySeed(text),
  })),
  SBC_NATS_CREDS_FILE: credentialFile('NATS creds file (user JWT + seed) for servers in operator mode; instead of SBC_NATS_NKEY_FILE', (file, text) => ({
    kind: 'creds',
    file,
    creds: parseCredsFile(text),
  })),
};

export function natsCredentialsOf(
  parsed: { readonly SBC_NATS_NKEY_FILE?: NatsCredentials | null; readonly SBC_NATS_CREDS_FILE?: NatsCredentials | null },
  problems: string[],
): NatsCredentials | undefined {
  if (parsed.SBC_NATS_NKEY_FILE && parsed.SBC_NATS_CREDS_FILE) {
    problems.push('set at most one of SBC_NATS_NKEY_FILE and SBC_NATS_CREDS_FILE');
  }
  return parsed.SBC_NATS_NKEY_FILE ?? parsed.SBC_NATS_CREDS_FILE ?? undefined;
}
