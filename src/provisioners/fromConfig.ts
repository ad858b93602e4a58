import type { ControlPlaneConfig } from '../config/controlPlane.js';
import type { Provisioner } from '../ports/provisioner.js';
import { CommandProvisioner } from './command.js';
import { DockerProvisioner } from './docker.js';
import { KubernetesProvisioner } from './kubernetes.js';
import { NoProvisioner } from './none.js';

/** The provisioner SBC_PROVISIONER names, built from its settings (checked when the config was read). */
export function provisionerFromConfig(config: ControlPlaneConfig): Provisioner {
  switch (config.SBC_PROVISIONER) {
    case 'none':
      return new NoProvisioner();
    case 'command':
      return new CommandProvisioner({ command: config.SBC_SCALE_COMMAND, timeoutMs: config.SBC_SCALE_COMMAND_TIMEOUT_MS, env: { PATH: '/usr/local/bin:/usr/bin:/bin' } });
    case 'kubernetes':
      return new KubernetesProvisioner({
        apiUrl: config.SBC_K8S_API_URL,
        tokenFile: config.SBC_K8S_TOKEN_FILE,
        ...(config.SBC_K8S_CA_FILE !== '' ? { caFile: config.SBC_K8S_CA_FILE } : {}),
        namespace: config.SBC_K8S_NAMESPACE,
        workloadKind: config.SBC_K8S_WORKLOAD_KIND,
        workloadName: config.SBC_K8S_WORKLOAD_NAME,
        timeoutMs: config.SBC_K8S_TIMEOUT_MS,
      });
    case 'docker':
      return new DockerProvisioner({
        socketPath: config.SBC_DOCKER_SOCKET,
        project: config.SBC_DOCKER_PROJECT,
        service: config.SBC_DOCKER_SERVICE,
        timeoutMs: config.SBC_DOCKER_TIMEOUT_MS,
        stopTimeoutSeconds: config.SBC_DOCKER_STOP_TIMEOUT_S,
      });
  }
}
