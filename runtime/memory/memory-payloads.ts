import type { PayloadStore } from '../core/payloads.ts';

/** An in-memory {@link PayloadStore}: for tests and benchmarks. Superseded keys are recorded, never removed. */
export class MemoryPayloadStore implements PayloadStore {
  readonly objects = new Map<string, Uint8Array>();
  readonly superseded = new Set<string>();

  constructor(readonly bucket = 'settle-payloads') {}

  async put(key: string, body: Uint8Array): Promise<void> {
    this.objects.set(key, Uint8Array.from(body));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const object = this.objects.get(key);
    return object && Uint8Array.from(object);
  }

  async supersede(key: string): Promise<void> {
    if (this.objects.has(key)) this.superseded.add(key);
  }

  async remove(key: string): Promise<void> {
    this.objects.delete(key);
  }
}
