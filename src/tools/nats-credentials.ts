import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fromSeed } from '@nats-io/nkeys';
import { isValidSubjectPrefix } from '../events/subjects.js';
import { generateUser, parseNkeySeed, renderAuthorization, type NatsRole, type NatsUser } from '../nats/auth.js';

/**
 * Makes (or keeps) one nkey seed file per NATS user and writes the server's authorization
 * block for them:
 *
 *   node dist/src/tools/nats-credentials.js --dir /etc/sbc/nats [--prefix sbc] [--agents fs1,fs2]
 *
 * gives `control-plane.nk`, `agent-<name>.nk` (one per agent, so one can be revoked alone;
 * default a single `agent.nk`), `kamailio.password` (Kamailio's nats module can only send a
 * user and password: SBC_NATS_URL=nats://kamailio:<password>@host:port), mode 0600, and
 * `auth.conf` to `include` from nats-server.conf (it holds that password too: keep it as
 * private as the NATS server's own config).
 * Existing seed files are kept, so running it again (a new agent) changes no other key.
 */
export interface CredentialPlan {
  readonly dir: string;
  readonly prefix: string;
  readonly agents: readonly string[];
}

export interface CredentialFiles {
  readonly controlPlane: string;
  /** The Kamailio user's password (its nats module takes `nats://kamailio:<password>@host:port`). */
  readonly kamailio: string;
  readonly agents: Readonly<Record<string, string>>;
  readonly authConf: string;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function writeCredentials(plan: CredentialPlan): CredentialFiles {
  if (!isValidSubjectPrefix(plan.prefix)) throw new Error(`invalid subject prefix ${JSON.stringify(plan.prefix)}`);
  for (const a of plan.agents) if (!NAME.test(a)) throw new Error(`invalid agent name ${JSON.stringify(a)}`);
  mkdirSync(plan.dir, { recursive: true, mode: 0o700 });
  const users: NatsUser[] = [];
  const ensure = (name: string, role: NatsRole, file: string): string => {
    const path = join(plan.dir, file);
    if (existsSync(path)) {
      const seed = parseNkeySeed(readFileSync(path, 'utf8'));
      users.push({ name, role, publicKey: fromSeed(seed).getPublicKey() });
    } else {
      const user = generateUser(name, role);
      writeFileSync(path, `${user.seed}\n`, { mode: 0o600 });
      chmodSync(path, 0o600);
      users.push(user);
    }
    return path;
  };
  const controlPlane = ensure('control-plane', 'control-plane', 'control-plane.nk');
  const agents: Record<string, string> = {};
  const names = plan.agents.length > 0 ? plan.agents : ['agent'];
  for (const a of names) agents[a] = ensure(a, 'agent', plan.agents.length > 0 ? `agent-${a}.nk` : 'agent.nk');
  const kamailio = join(plan.dir, 'kamailio.password');
  if (!existsSync(kamailio)) writeFileSync(kamailio, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  chmodSync(kamailio, 0o600);
  const password = readFileSync(kamailio, 'utf8').trim();
  if (!/^[A-Za-z0-9]{16,128}$/.test(password)) throw new Error(`${kamailio}: the password must be 16-128 letters or digits (it goes into a URL)`);
  users.push({ name: 'kamailio', role: 'kamailio', password });
  const authConf = join(plan.dir, 'auth.conf');
  writeFileSync(authConf, renderAuthorization(users, plan.prefix), { mode: 0o644 });
  return { controlPlane, kamailio, agents, authConf };
}

function main(): void {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, prefix: { type: 'string', default: 'sbc' }, agents: { type: 'string', default: '' } },
  });
  if (!values.dir) {
    process.stderr.write('usage: nats-credentials --dir DIR [--prefix sbc] [--agents name1,name2]\n');
    process.exit(2);
  }
  const files = writeCredentials({
    dir: values.dir,
    prefix: values.prefix,
    agents: values.agents.split(',').map((s) => s.trim()).filter((s) => s !== ''),
  });
  process.stdout.write(`${JSON.stringify(files)}\n`);
}

// Run only as a program, never on import (tests import writeCredentials).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
