/**
 * Emulators for integration tests: fauxqs and dynalite in this process on port 0, real SDK
 * clients pointed at them, and optionally the provisioned queue, DLQ and table.
 *
 * @example
 * let env: TestEmulators;
 * beforeAll(async () => { env = await startTestEmulators({ provision: true }); });
 * afterAll(() => env.stop());
 */
import { createLocalClients, type LocalClients } from '../../local/clients.ts';
import { startEmulators, type Emulators } from '../../local/emulators.ts';
import { provision, type ProvisionedResources, type ResourceNames } from '../../local/provision.ts';
import type { LocalLogger } from '../../local/log.ts';

export interface TestEmulators extends Emulators {
  readonly clients: LocalClients;
  /** Present when started with `provision: true`. */
  readonly resources: ProvisionedResources | undefined;
}

export async function startTestEmulators(
  options: { readonly provision?: boolean; readonly workerTimeoutSeconds?: number; readonly names?: ResourceNames } = {},
): Promise<TestEmulators> {
  const emulators = await startEmulators({ sqsPort: 0, dynamodbPort: 0 });
  const clients = createLocalClients(emulators);
  try {
    const resources = options.provision
      ? await provision({
          sqs: clients.sqs,
          dynamodb: clients.dynamodb,
          workerTimeoutSeconds: options.workerTimeoutSeconds,
          names: options.names,
        })
      : undefined;
    return {
      ...emulators,
      clients,
      resources,
      stop: async () => {
        clients.destroy();
        await emulators.stop();
      },
    };
  } catch (error) {
    clients.destroy();
    await emulators.stop();
    throw error;
  }
}

/** Unique resource names, so tests sharing one emulator do not see each other's messages. */
export function uniqueNames(prefix: string): ResourceNames {
  const suffix = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  return { queue: `${suffix}-events.fifo`, deadLetterQueue: `${suffix}-dlq.fifo`, table: `${suffix}-instances` };
}

/** A logger that keeps what it was told, for assertions. */
export function recordingLogger(): LocalLogger & { readonly lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string, error?: unknown) =>
    lines.push(`${level} ${message}${error instanceof Error ? ` (${error.message})` : ''}`);
  return { lines, info: keep('info'), warn: keep('warn'), error: keep('error') };
}
