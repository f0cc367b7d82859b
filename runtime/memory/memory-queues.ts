import type { DeadLetter, DeadLetterQueue } from '../core/dead-letters.ts';
import type { WakeQueue, WakeUp } from '../core/sweep.ts';

/** Keeps dead letters in memory, for tests and benchmarks. */
export class MemoryDeadLetterQueue implements DeadLetterQueue {
  readonly letters: DeadLetter[] = [];

  async send(letter: DeadLetter): Promise<void> {
    this.letters.push(letter);
  }
}

/** Keeps wake-ups in memory, for tests and benchmarks. */
export class MemoryWakeQueue implements WakeQueue {
  readonly sent: WakeUp[] = [];

  async send(due: readonly WakeUp[]): Promise<void> {
    this.sent.push(...due);
  }

  /** Takes every wake-up sent so far. */
  drain(): WakeUp[] {
    return this.sent.splice(0, this.sent.length);
  }
}
