/**
 * A simulated SQS FIFO queue for the property tests: message groups in send order, sequence numbers
 * beyond 2^53, receive counts, and batches made of the heads of several groups. Unlike the real one it
 * never loses a message on its own: every fault (a lost delete, a crash, a second consumer) is the
 * test's explicit choice, so the property can say exactly what was sent and what must be stored. It
 * refuses a receive beyond maxReceiveCount, where SQS would redrive: the test keeps its faults short of it.
 */
import type { SQSRecord } from 'aws-lambda';
import { fifoRecord } from '../support/records.ts';

export interface QueuedMessage {
  readonly groupId: string;
  readonly sequenceNumber: bigint;
  readonly body: string;
  readonly messageId: string;
  receiveCount: number;
}

export class SimulatedFifoQueue {
  private readonly groups = new Map<string, QueuedMessage[]>();
  private readonly sent = new Map<string, QueuedMessage[]>();
  private readonly byId = new Map<string, QueuedMessage>();
  // 18e18 and 18e18 + 1 are the same JS number: a worker comparing as numbers would skip events.
  private nextSequence = 18_000_000_000_000_000_000n;

  /** The redrive policy's maxReceiveCount: a message is never received more often. */
  constructor(readonly maxReceiveCount: number) {}

  send(groupId: string, body: string): QueuedMessage {
    this.nextSequence += 1n + (this.nextSequence % 3n);
    const message: QueuedMessage = {
      groupId,
      sequenceNumber: this.nextSequence,
      body,
      messageId: `m-${this.nextSequence}`,
      receiveCount: 0,
    };
    this.groups.set(groupId, [...(this.groups.get(groupId) ?? []), message]);
    this.sent.set(groupId, [...(this.sent.get(groupId) ?? []), message]);
    this.byId.set(message.messageId, message);
    return message;
  }

  /** Messages not acknowledged yet. */
  get pending(): number {
    let count = 0;
    for (const group of this.groups.values()) count += group.length;
    return count;
  }

  /** Every message ever sent to `groupId`, in order. */
  sentTo(groupId: string): readonly QueuedMessage[] {
    return this.sent.get(groupId) ?? [];
  }

  /**
   * One receive: up to `size` records from the heads of the groups, the groups in an order and with a
   * number of records each chosen by `choices`, each group's records in order (what FIFO guarantees).
   */
  receive(size: number, choices: readonly number[], options: { lastReceive?: boolean } = {}): SQSRecord[] {
    const choice = (index: number) => choices[index % Math.max(1, choices.length)] ?? index;
    const ready = [...this.groups.entries()].filter(([, messages]) => messages.length > 0);
    const order = ready
      .map(([groupId, messages], index) => ({ groupId, messages, rank: choice(index) }))
      .sort((a, b) => a.rank - b.rank || a.groupId.localeCompare(b.groupId));
    const taken: QueuedMessage[] = [];
    for (const [index, { messages }] of order.entries()) {
      const room = size - taken.length;
      if (room <= 0) break;
      const count = 1 + (choice(index + 7) % Math.min(room, messages.length));
      taken.push(...messages.slice(0, count));
    }
    if (options.lastReceive) {
      // Earlier receives went to consumers that never reported back (a killed poller's open long poll).
      for (const message of taken) message.receiveCount = Math.max(message.receiveCount, this.maxReceiveCount - 1);
    }
    return taken.map((message) => this.deliver(message));
  }

  /** The same messages received once more by another consumer (the visibility timeout ran out). */
  receiveAgain(records: readonly SQSRecord[]): SQSRecord[] {
    return records.map((record) => this.deliver(this.message(record)));
  }

  /** Deletes the records that succeeded; `keep` (failed, or whose delete was lost) stay at the head of their group, in order. */
  acknowledge(records: readonly SQSRecord[], keep: ReadonlySet<string>): void {
    for (const record of records) {
      if (keep.has(record.messageId)) continue;
      const message = this.message(record);
      const group = this.groups.get(message.groupId) ?? [];
      this.groups.set(
        message.groupId,
        group.filter((queued) => queued !== message),
      );
    }
  }

  private deliver(message: QueuedMessage): SQSRecord {
    if (message.receiveCount >= this.maxReceiveCount) {
      // SQS would move it to the DLQ instead: the test must not schedule a fault that leads here.
      throw new Error(`${message.messageId} of ${message.groupId} would be received a ${this.maxReceiveCount + 1}th time: SQS redrives it`);
    }
    message.receiveCount += 1;
    return fifoRecord(message.groupId, message.sequenceNumber, message.body, {
      receiveCount: message.receiveCount,
      messageId: message.messageId,
    });
  }

  private message(record: SQSRecord): QueuedMessage {
    const message = this.byId.get(record.messageId);
    if (!message) throw new Error(`unknown message ${record.messageId}`);
    return message;
  }
}
