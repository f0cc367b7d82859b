import { createHash, randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { type PermanentCode, PermanentError } from '../runtime/core/errors.ts';
import { maxOffloadedEventBytes } from '../runtime/core/payloads.ts';
import type { MachineRegistry } from '../runtime/core/registry.ts';
import { deadLetterAttributes, redriveAttribute } from '../runtime/core/resources.ts';
import type { HistoryEntry, InstanceRecord } from '../runtime/core/store.ts';
import { awsCall } from './aws-errors.ts';
import { checkOutgoing, instanceKeyOf } from './events.ts';

/** A dead letter as `settle dlq list` shows it. */
export interface DeadLetterView {
  /** The letter's message id in the dead-letter queue. */
  readonly messageId: string;
  /** The message id of the event it holds (`settle-message-id`); for a letter SQS moved itself, its own. */
  readonly letterId: string;
  /** The instance (`settle-group`, or for a letter SQS moved, its message group). */
  readonly instanceKey: string;
  /** The event's SequenceNumber in the events queue, as SQS wrote it; unknown for a letter SQS moved. */
  readonly sequenceNumber: string | undefined;
  /** The `settle-error` code; `undefined` for a letter SQS moved after its last receive, without Settle's decision. */
  readonly code: PermanentCode | undefined;
  readonly reason: string | undefined;
  readonly body: string;
  /** When the letter was sent to the dead-letter queue (ISO). */
  readonly sentAt: string;
}

export interface DeadLetterListing {
  /** Every letter read, oldest first. */
  readonly letters: readonly DeadLetterView[];
  /**
   * Letters the queue held that this browse could not read: SQS hands out a FIFO group's messages one batch
   * at a time, so letters SQS moved itself (in their instance's group) may stay behind the first ten.
   */
  readonly unread: number;
}

export interface RedriveOptions {
  /** Only this instance's letters. */
  readonly instance?: string;
  /** Only these letters (`messageId` or `letterId`). */
  readonly letterIds?: readonly string[];
  /** Redrive letters the checks would refuse (see {@link RedriveResult}). */
  readonly force?: boolean;
}

export interface RedriveResult {
  readonly letter: DeadLetterView;
  /** `redriven`: sent to its instance again and removed from the DLQ; `refused`: left in place, `message` says why. */
  readonly status: 'redriven' | 'refused' | 'failed';
  readonly message: string;
  /** The SequenceNumber of the event sent again. */
  readonly sequenceNumber?: string;
}

interface Received {
  readonly view: DeadLetterView;
  readonly receiptHandle: string;
}

/**
 * Codes whose cause is the event itself: sending the same body again fails the same way. The payload codes are
 * not among them: a claim check is followed before a redrive (and refused if it still cannot be), and a
 * snapshot object restored after `payload-missing` makes the same event apply.
 */
const malformed: ReadonlySet<PermanentCode> = new Set([
  'invalid-instance-key',
  'invalid-json',
  'invalid-event',
  'reserved-type',
  'event-too-large',
]);
const appliedOutcomes: ReadonlySet<HistoryEntry['outcome']> = new Set(['resolve', 'reject', 'done', 'ignored']);

/** Browsing holds the letters out of sight this long; they are handed back as soon as it ends. */
const browseVisibilitySeconds = 60;
/** A redrive holds its letters longer: each is sent and deleted while held. */
const redriveVisibilitySeconds = 300;

/**
 * The dead-letter queue, read without consuming it: `list` receives every letter and hands them all back;
 * `redrive` sends letters to their instance again, after checking the instance, and removes each only once it
 * was sent (docs/DESIGN.md, "Dead letters").
 */
export class DeadLetterBox {
  constructor(
    private readonly sqs: SQSClient,
    private readonly deadLetterQueueUrl: string,
    private readonly queueUrl: string,
    private readonly readInstance: (key: string) => Promise<InstanceRecord | undefined>,
    private readonly registry: MachineRegistry | undefined,
    /** The event a letter's body stands for: itself, or the object its claim check points to (payloads.ts). */
    private readonly eventBody: (instanceKey: string, body: string) => Promise<string> = async (_key, body) => body,
  ) {}

  /**
   * Every letter (of one instance, if given), left in the queue. `maxAgeMs` takes a listing this process made
   * that recently instead of browsing again (a dashboard refreshing every few seconds).
   */
  async list(options: { readonly instance?: string; readonly maxAgeMs?: number } = {}): Promise<DeadLetterListing> {
    const queue = queueState(this.deadLetterQueueUrl);
    const cached = queue.listing;
    let listing: Promise<DeadLetterListing>;
    if (cached && options.maxAgeMs !== undefined && Date.now() - cached.at <= options.maxAgeMs) {
      listing = cached.value;
    } else {
      listing = serially(queue, async () => {
        const { received, unread } = await this.browse(browseVisibilitySeconds);
        await this.release(received);
        return { letters: received.map(({ view }) => view), unread };
      });
      queue.listing = { at: Date.now(), value: listing };
    }
    const { letters, unread } = await listing.catch((error: unknown) => {
      if (queue.listing?.value === listing) queue.listing = undefined;
      throw error;
    });
    return { letters: letters.filter((view) => options.instance === undefined || view.instanceKey === options.instance), unread };
  }

  /**
   * Sends the chosen letters' events to their instances again, in each instance's order: same group, a new
   * deduplication id (the same one for a retry of the same letter), and `settle-redrive-of` naming the letter.
   * A letter is refused, and left in place, when its instance already applied its event or a redrive of it,
   * when SQS moved it without Settle's decision (it may be applied), when its event is malformed, or when the
   * registry (if known) still refuses it; `force` overrides all but the last.
   */
  async redrive(options: RedriveOptions = {}): Promise<RedriveResult[]> {
    if (options.instance !== undefined) instanceKeyOf(options.instance);
    const queue = queueState(this.deadLetterQueueUrl);
    queue.listing = undefined;
    return serially(queue, () => this.redriveChosen(options));
  }

  private async redriveChosen(options: RedriveOptions): Promise<RedriveResult[]> {
    const { received } = await this.browse(redriveVisibilitySeconds);
    const chosen = received.filter(({ view }) => chosenBy(view, options)).sort((a, b) => inOrder(a.view, b.view));
    const keep = received.filter((letter) => !chosen.includes(letter));
    const results: RedriveResult[] = [];
    try {
      for (const letter of chosen) {
        const result = await this.redriveOne(letter, options.force === true);
        results.push(result);
        if (result.status !== 'redriven') keep.push(letter);
      }
    } finally {
      await this.release(keep);
    }
    return results;
  }

  private async redriveOne({ view, receiptHandle }: Received, force: boolean): Promise<RedriveResult> {
    const refusal = await this.refusal(view, force);
    if (refusal !== undefined) return { letter: view, status: 'refused', message: refusal };
    let sequenceNumber: string | undefined;
    try {
      const sent = await awsCall(`redrive a letter of ${view.instanceKey}`, () =>
        this.sqs.send(
          new SendMessageCommand({
            QueueUrl: this.queueUrl,
            MessageGroupId: view.instanceKey,
            MessageDeduplicationId: redriveDeduplicationId(view.letterId, force),
            MessageBody: view.body,
            MessageAttributes: { [redriveAttribute]: { DataType: 'String', StringValue: view.letterId } },
          }),
        ),
      );
      sequenceNumber = sent.SequenceNumber;
    } catch (error) {
      return { letter: view, status: 'failed', message: `not sent, left in the dead-letter queue: ${(error as Error).message}` };
    }
    try {
      await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.deadLetterQueueUrl, ReceiptHandle: receiptHandle }));
    } catch (error) {
      return {
        letter: view,
        status: 'redriven',
        message:
          `sent again as ${sequenceNumber}, but it could not be removed from the dead-letter queue (${(error as Error).message}); ` +
          'a later redrive of it is refused once the instance has applied it',
        ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
      };
    }
    return {
      letter: view,
      status: 'redriven',
      message: `sent again as ${sequenceNumber}`,
      ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
    };
  }

  /** Why this letter must not be sent again, or `undefined`. */
  private async refusal(view: DeadLetterView, force: boolean): Promise<string | undefined> {
    let text: string;
    try {
      text = await this.eventBody(view.instanceKey, view.body);
    } catch (error) {
      // A claim check the worker could not follow either: say why (--force would not help).
      return `its event cannot be read: ${(error as Error).message}${error instanceof PermanentError ? '' : ' Try again.'}`;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (this.registry && body !== undefined) {
      try {
        checkOutgoing(view.instanceKey, body, this.registry, maxOffloadedEventBytes);
      } catch (error) {
        return `the registry still refuses it: ${(error as Error).message}`;
      }
    }
    if (force) return undefined;
    if (view.code !== undefined && malformed.has(view.code)) {
      return `its event is malformed (${view.code}), so it would fail the same way: send a corrected event instead (or --force)`;
    }
    const instance = await this.readInstance(view.instanceKey);
    const history = instance?.history ?? [];
    const redriven = history.find((entry) => entry.redriveOf === view.letterId);
    if (redriven) {
      return (
        `it was redriven before: ${view.instanceKey} handled it as event ${redriven.seq} (${redriven.outcome}) at ${redriven.at}; ` +
        'it is only still here because removing it failed (--force sends it once more)'
      );
    }
    const same = view.sequenceNumber === undefined ? undefined : history.find((entry) => entry.seq === view.sequenceNumber);
    if (same && appliedOutcomes.has(same.outcome)) {
      return `${view.instanceKey} already applied this event (${same.seq}, ${same.outcome}) at ${same.at}: sending it again would apply it twice`;
    }
    if (view.code === undefined) {
      const last = instance ? ` (its last event: ${instance.lastSeq} at ${instance.updatedAt})` : '';
      return (
        'SQS moved it after its last receive without a decision by the worker, so the event may already be applied' +
        `${last}. Check \`settle history ${view.instanceKey}\`, then redrive it with --force if it was not`
      );
    }
    return undefined;
  }

  /** Receives every letter it can, holding each for `visibilitySeconds`. */
  private async browse(visibilitySeconds: number): Promise<{ received: Received[]; unread: number }> {
    const seen = new Map<string, Received>();
    for (;;) {
      const { Messages = [] } = await awsCall('read the dead-letter queue', () =>
        this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.deadLetterQueueUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: visibilitySeconds,
            // Long polling asks every SQS server, so an empty answer means nothing more is visible.
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        ),
      );
      const fresh = Messages.filter((message) => message.MessageId !== undefined && !seen.has(message.MessageId));
      // Only letters seen before: their holds ran out while browsing, so everything has been read.
      if (fresh.length === 0) break;
      for (const message of fresh) {
        const received = receivedOf(message);
        if (received) seen.set(received.view.messageId, received);
      }
    }
    const { Attributes = {} } = await awsCall('count the dead letters', () =>
      this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.deadLetterQueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] })),
    );
    const received = [...seen.values()].sort((a, b) => (a.view.sentAt < b.view.sentAt ? -1 : a.view.sentAt > b.view.sentAt ? 1 : 0));
    return { received, unread: Number(Attributes.ApproximateNumberOfMessages ?? 0) };
  }

  /** Hands letters back at once; a failure only delays them until their hold runs out. */
  private async release(letters: readonly Received[]): Promise<void> {
    for (let start = 0; start < letters.length; start += 10) {
      const batch = letters.slice(start, start + 10);
      await this.sqs
        .send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.deadLetterQueueUrl,
            Entries: batch.map((letter, index) => ({ Id: String(index), ReceiptHandle: letter.receiptHandle, VisibilityTimeout: 0 })),
          }),
        )
        .catch(() => undefined);
    }
  }
}

/**
 * What this process does with one dead-letter queue: a browse hides every letter while it runs, so browses and
 * redrives of one queue take turns (a redrive that ran during a browse would find no letter); the last listing is
 * kept for `list({ maxAgeMs })`.
 */
interface QueueState {
  tail: Promise<unknown>;
  listing: { readonly at: number; readonly value: Promise<DeadLetterListing> } | undefined;
}

const queues = new Map<string, QueueState>();

function queueState(url: string): QueueState {
  let state = queues.get(url);
  if (!state) {
    state = { tail: Promise.resolve(), listing: undefined };
    queues.set(url, state);
  }
  return state;
}

/** Runs `work` after everything queued on this queue before it has ended. */
function serially<T>(queue: QueueState, work: () => Promise<T>): Promise<T> {
  const run = queue.tail.then(work, work);
  queue.tail = run.catch(() => undefined);
  return run;
}

function receivedOf(message: Message): Received | undefined {
  const { MessageId, ReceiptHandle } = message;
  if (MessageId === undefined || ReceiptHandle === undefined) return undefined;
  const attribute = (name: string) => message.MessageAttributes?.[name]?.StringValue;
  const code = attribute(deadLetterAttributes.error) as PermanentCode | undefined;
  const sent = Number(message.Attributes?.SentTimestamp);
  return {
    receiptHandle: ReceiptHandle,
    view: {
      messageId: MessageId,
      letterId: attribute(deadLetterAttributes.messageId) ?? MessageId,
      instanceKey: attribute(deadLetterAttributes.group) ?? message.Attributes?.MessageGroupId ?? '',
      sequenceNumber: attribute(deadLetterAttributes.sequenceNumber),
      code,
      reason: attribute(deadLetterAttributes.reason),
      body: message.Body ?? '',
      sentAt: Number.isFinite(sent) ? new Date(sent).toISOString() : '',
    },
  };
}

function chosenBy(view: DeadLetterView, options: RedriveOptions): boolean {
  if (options.instance !== undefined && view.instanceKey !== options.instance) return false;
  if (options.letterIds !== undefined) return options.letterIds.includes(view.messageId) || options.letterIds.includes(view.letterId);
  return true;
}

/** Each instance's letters in the order SQS sequenced their events; letters SQS moved, by the time they arrived. */
function inOrder(a: DeadLetterView, b: DeadLetterView): number {
  if (a.instanceKey !== b.instanceKey) return a.instanceKey < b.instanceKey ? -1 : 1;
  if (
    a.sequenceNumber !== undefined &&
    b.sequenceNumber !== undefined &&
    /^\d+$/.test(a.sequenceNumber) &&
    /^\d+$/.test(b.sequenceNumber)
  ) {
    const diff = BigInt(a.sequenceNumber) - BigInt(b.sequenceNumber);
    return diff < 0n ? -1 : diff > 0n ? 1 : 0;
  }
  return a.sentAt < b.sentAt ? -1 : a.sentAt > b.sentAt ? 1 : 0;
}

/**
 * New for the redriven event (the original's id may still be within SQS's 5-minute window), and the same for a
 * retry of that redrive, which SQS then drops. A forced redrive is meant to send again: it gets a fresh one.
 */
function redriveDeduplicationId(letterId: string, force: boolean): string {
  const id = `redrive-${createHash('sha256').update(letterId).digest('hex').slice(0, 48)}`;
  return force ? `${id}-${randomUUID()}` : id;
}
