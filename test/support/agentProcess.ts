import { startProcess, type RunningProcess } from './process.js';

export interface AgentProcessOptions {
  readonly natsUrl: string;
  readonly prefix: string;
  readonly heartbeatMs: number;
  /** SBC_ESL_TIMEOUT_MS: at most the heartbeat (the agent refuses more). */
  readonly eslTimeoutMs: number;
  /** More SBC_* variables (they win over the ones above). */
  readonly env?: Readonly<Record<string, string>>;
}

/** The shipped agent (`src/agent/main.ts`) as its own process beside one FreeSWITCH (stand-in), logging warnings only. */
export function startAgentProcess(fs: { readonly eslPort: number; readonly password: string }, o: AgentProcessOptions): RunningProcess {
  return startProcess(process.execPath, ['--import', 'tsx', 'src/agent/main.ts'], {
    env: {
      PATH: process.env.PATH,
      SBC_NATS_URL: o.natsUrl,
      SBC_NATS_PREFIX: o.prefix,
      SBC_FS_ESL_PORT: String(fs.eslPort),
      SBC_FS_ESL_PASSWORD: fs.password,
      SBC_HEARTBEAT_MS: String(o.heartbeatMs),
      SBC_ESL_TIMEOUT_MS: String(o.eslTimeoutMs),
      SBC_LOG_LEVEL: 'warn',
      ...o.env,
    },
  });
}
