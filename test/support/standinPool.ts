import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStandin, type Standin } from '../standin/standin.js';
import { startAgentProcess } from './agentProcess.js';
import type { RunningProcess } from './process.js';

export interface PoolMachine {
  readonly machineId: string;
  readonly fs: Standin;
  readonly agent: RunningProcess;
  /** When the orchestrator started it (ms). */
  readonly startedAt: number;
}

export interface ProvisionCall {
  readonly at: number;
  readonly replicas: number;
  readonly remove: readonly string[];
}

/**
 * An orchestrator of FreeSWITCH stand-ins with the shipped agents, driven the way the
 * `command` provisioner drives any: `command` is a real executable (what SBC_SCALE_COMMAND
 * names) that forwards its request (stdin JSON) to this orchestrator over loopback HTTP, which
 * removes the named machines (agent SIGTERM: `left`; then the stand-in) and starts what is
 * short. `onRequest` sees each request before anything is done (the test's checks).
 */
export class StandinPool {
  readonly machines = new Map<string, PoolMachine>();
  readonly requests: ProvisionCall[] = [];
  private next = 1;
  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    readonly command: string,
    private readonly agent: { natsUrl: string; prefix: string },
    private readonly onRequest: (r: ProvisionCall) => Promise<void>,
  ) {}

  static async start(agent: { natsUrl: string; prefix: string }, onRequest: (r: ProvisionCall) => Promise<void> = () => Promise.resolve()): Promise<StandinPool> {
    const dir = mkdtempSync(join(tmpdir(), 'sbc-pool-'));
    const self: { pool?: StandinPool } = {};
    const server = createServer((req, res) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString()));
      req.on('end', () => {
        const body = JSON.parse(data) as { replicas: number; remove: Array<{ machineId: string }> };
        (self.pool as StandinPool).apply(body.replicas, body.remove.map((m) => m.machineId)).then(
          () => res.end('ok'),
          (err: unknown) => {
            res.statusCode = 500;
            res.end(String(err));
          },
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const command = join(dir, 'scale-pool');
    writeFileSync(
      command,
      `#!${process.execPath}\n` +
        `let input = ''; process.stdin.on('data', (c) => (input += c)); process.stdin.on('end', async () => {\n` +
        `  const req = JSON.parse(input);\n` +
        `  if (String(req.replicas) !== process.env.SBC_SCALE_REPLICAS) { console.error('env and stdin disagree'); process.exit(3); }\n` +
        `  const res = await fetch('http://127.0.0.1:${port}/scale', { method: 'POST', body: input });\n` +
        `  console.log('orchestrator: ' + (await res.text())); process.exit(res.ok ? 0 : 1);\n` +
        `});\n`,
    );
    chmodSync(command, 0o755);
    self.pool = new StandinPool(server, dir, command, agent, onRequest);
    return self.pool;
  }

  async startMachine(): Promise<PoolMachine> {
    const machineId = `fs-m${this.next++}`;
    const startedAt = Date.now();
    const fs = await startStandin({ toneMs: 0 });
    const agent = startAgentProcess(fs, { natsUrl: this.agent.natsUrl, prefix: this.agent.prefix, heartbeatMs: 500, eslTimeoutMs: 400, env: { SBC_PROBES_BEFORE_LOST: '3', SBC_MACHINE_ID: machineId } });
    const m = { machineId, fs, agent, startedAt };
    this.machines.set(machineId, m);
    return m;
  }

  private async apply(replicas: number, remove: string[]): Promise<void> {
    const call = { at: Date.now(), replicas, remove };
    this.requests.push(call);
    await this.onRequest(call);
    for (const id of remove) {
      const m = this.machines.get(id);
      if (!m) continue;
      this.machines.delete(id);
      await m.agent.stop('SIGTERM');
      await m.fs.stop();
    }
    // Started side by side, as an orchestrator starts containers.
    await Promise.all(Array.from({ length: Math.max(0, replicas - this.machines.size) }, () => this.startMachine()));
  }

  async stop(): Promise<void> {
    for (const m of this.machines.values()) await m.agent.stop('SIGKILL');
    for (const m of this.machines.values()) await m.fs.stop();
    await new Promise((r) => this.server.close(r));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
