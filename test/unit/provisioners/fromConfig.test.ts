import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/env.js';
import { loadControlPlaneConfig } from '../../../src/config/controlPlane.js';
import { provisionerFromConfig } from '../../../src/provisioners/fromConfig.js';

describe('provisioner from config', () => {
  it('builds the one SBC_PROVISIONER names', () => {
    expect(provisionerFromConfig(loadControlPlaneConfig({})).kind).toBe('none');
    expect(provisionerFromConfig(loadControlPlaneConfig({ SBC_PROVISIONER: 'command', SBC_SCALE_COMMAND: '/usr/local/bin/scale-pool' })).kind).toBe('command');
    expect(provisionerFromConfig(loadControlPlaneConfig({ SBC_PROVISIONER: 'docker', SBC_DOCKER_PROJECT: 'sbc', SBC_DOCKER_SERVICE: 'freeswitch' })).kind).toBe('docker');
    expect(provisionerFromConfig(loadControlPlaneConfig({ SBC_PROVISIONER: 'kubernetes', SBC_K8S_NAMESPACE: 'voice', SBC_K8S_WORKLOAD_NAME: 'freeswitch' })).kind).toBe('kubernetes');
  });

  it('refuses a provisioner without what it needs, listing every problem', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadControlPlaneConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ SBC_PROVISIONER: 'command' })).toContain('SBC_PROVISIONER=command needs SBC_SCALE_COMMAND');
    expect(problems({ SBC_PROVISIONER: 'command', SBC_SCALE_COMMAND: 'scale-pool' }).join()).toMatch(/SBC_SCALE_COMMAND/);
    expect(problems({ SBC_PROVISIONER: 'docker' })).toContain('SBC_PROVISIONER=docker needs SBC_DOCKER_PROJECT and SBC_DOCKER_SERVICE');
    expect(problems({ SBC_PROVISIONER: 'kubernetes', SBC_K8S_NAMESPACE: 'voice' })).toContain('SBC_PROVISIONER=kubernetes needs SBC_K8S_NAMESPACE and SBC_K8S_WORKLOAD_NAME');
    expect(problems({ SBC_SCALE_MIN_REPLICAS: '5', SBC_SCALE_MAX_REPLICAS: '3' })).toContain('SBC_SCALE_MIN_REPLICAS (5) must not exceed SBC_SCALE_MAX_REPLICAS (3)');
  });
});
