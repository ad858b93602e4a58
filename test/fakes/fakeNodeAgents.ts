import type { HangupCause, StatusResult } from '../../src/events/commands.js';
import type { AgentCommands, NodeControlCommands } from '../../src/nats/agentCommands.js';

/**
 * The agents of a pool as the control plane's drain steps see them: each node's FreeSWITCH
 * holds a call count and an inbound pause flag, and does to them what the real commands do
 * (`pause-inbound` sets or clears the flag and reads it back, `hangup-all` ends every call).
 * Records every command, in order, for the tests' exact assertions. A node set `silent`
 * answers nothing (the agent down): the command rejects as the NATS client would.
 */
export class FakeNodeAgents implements Pick<AgentCommands, 'status'>, NodeControlCommands {
  readonly calls: string[] = [];
  private readonly nodes = new Map<string, { sessions: number; inboundPaused: boolean; silent: boolean }>();

  set(nodeId: string, facts: Partial<{ sessions: number; inboundPaused: boolean; silent: boolean }>): void {
    const cur = this.nodes.get(nodeId) ?? { sessions: 0, inboundPaused: false, silent: false };
    this.nodes.set(nodeId, { ...cur, ...facts });
  }

  facts(nodeId: string) {
    return this.nodes.get(nodeId) ?? { sessions: 0, inboundPaused: false, silent: false };
  }

  private reach(nodeId: string, what: string) {
    this.calls.push(`${what} ${nodeId}`);
    const n = this.facts(nodeId);
    if (n.silent) return new Error(`no agent is listening for node ${nodeId}'s commands`);
    this.nodes.set(nodeId, n);
    return n;
  }

  status(nodeId: string): Promise<StatusResult> {
    const n = this.reach(nodeId, 'status');
    if (n instanceof Error) return Promise.reject(n);
    return Promise.resolve({
      coreUuid: nodeId, version: '1.10.12', uptimeMs: 1000, ready: true, sessions: n.sessions, maxSessions: 100, sessionsSinceStartup: n.sessions, sessionsPeak: n.sessions,
      sipProfile: { name: 'internal', running: true }, inboundPaused: n.inboundPaused, blockers: n.inboundPaused ? ['inbound-paused'] : [], readAt: 0,
    });
  }

  pauseInbound(nodeId: string, paused: boolean): Promise<{ inboundPaused: boolean }> {
    const n = this.reach(nodeId, paused ? 'pause-inbound' : 'resume-inbound');
    if (n instanceof Error) return Promise.reject(n);
    n.inboundPaused = paused;
    return Promise.resolve({ inboundPaused: paused });
  }

  hangupAll(nodeId: string, cause: HangupCause): Promise<{ cause: HangupCause }> {
    const n = this.reach(nodeId, `hangup-all ${cause}`);
    if (n instanceof Error) return Promise.reject(n);
    n.sessions = 0;
    return Promise.resolve({ cause });
  }
}
