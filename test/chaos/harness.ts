/**
 * The chaos run's parent side: emulators in this process (port 0), the resources provisioned as the
 * local stack provisions them, N worker child processes (worker-child.ts, bundled once with esbuild so
 * a restart costs ~0.2 s instead of tsx's ~0.6 s), a producer that keeps events flowing while the
 * children are killed and restarted, and afterwards the ledger check.
 *
 * @example
 * const run = new ChaosRun({ ...boundedChaos });
 * try { const report = await run.execute(); } finally { await run.dispose(); }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { build } from 'esbuild';
import { createLocalClients, type LocalClients } from '../../local/clients.ts';
import { localRegion, startEmulators, type Emulators } from '../../local/emulators.ts';
import { provision, type ProvisionedResources } from '../../local/provision.ts';
import { environmentVariables } from '../../runtime/core/config.ts';
import { deadLetterAttributes, maxReceiveCount } from '../../runtime/core/resources.ts';
import { killPoints, type ChildReport, type KillPoint } from './faults.ts';
import { ledgerMachineName } from './ledger.ts';
import { seededRandom } from '../../testing/random.ts';

export interface ChaosOptions {
  readonly events: number;
  readonly instances: number;
  /** Worker child processes, each with its own poller. */
  readonly workers: number;
  /** Poll loops (concurrent handler invocations) per child. */
  readonly pollLoops: number;
  /** The run fails unless at least this many children were SIGKILLed. */
  readonly minKills: number;
  /** An incarnation dies at a uniformly drawn occurrence 1…2×meanLife of its kill point. */
  readonly meanLife: number;
  /** Mean interval of the parent's own SIGKILLs at random moments; 0 for none. */
  readonly externalKillIntervalMs: number;
  /** Share of events that are poison (invalid JSON or a schema violation): they must end in the DLQ with their reason. */
  readonly poisonShare: number;
  /** Share of events whose side effect takes `slowMs` on the first receive: longer than the visibility timeout, so a second consumer gets them. */
  readonly slowShare: number;
  readonly slowMs: number;
  /** The pollers' ReceiveMessage VisibilityTimeout. */
  readonly visibilitySeconds: number;
  /** Share of sends repeated with the same MessageDeduplicationId (a producer retry): SQS must drop them. */
  readonly resendShare: number;
  /** At most this many events sent but not yet deleted, so the kills happen while events flow. */
  readonly maxBacklog: number;
  readonly seed: number;
  /** How long the queue may take to drain once everything is sent. */
  readonly drainTimeoutMs: number;
  readonly log?: (message: string) => void;
}

export interface ChaosReport {
  readonly seed: number;
  readonly events: number;
  readonly goodEvents: number;
  readonly poisonEvents: number;
  readonly instances: number;
  readonly workers: number;
  readonly pollLoops: number;
  readonly kills: { readonly total: number; readonly external: number; readonly byPoint: Readonly<Record<string, number>> };
  readonly incarnations: number;
  readonly batches: number;
  readonly deliveries: number;
  /** Deliveries of a message beyond its first, to any consumer (redelivery after a kill, a lost delete, or a visibility timeout). */
  readonly duplicatesDelivered: number;
  /** Events whose side effect outlasted the visibility timeout on the first receive… */
  readonly slowEvents: number;
  /** …and of those, how many a second consumer received while the first still worked on them. */
  readonly slowEventsRedelivered: number;
  readonly conflicts: number;
  readonly groupRetries: number;
  readonly producerResends: number;
  readonly sideEffects: { readonly runs: number; readonly reRuns: number; readonly missing: number };
  readonly lost: number;
  readonly doubleApplied: number;
  readonly orderViolations: number;
  readonly unexpected: number;
  readonly lastSeqMismatches: number;
  readonly deadLettered: {
    readonly expected: number;
    readonly found: number;
    readonly missing: number;
    readonly wrongReason: number;
    readonly repeats: number;
  };
  /** Good events dead-lettered with a Settle reason: must be 0. */
  readonly wronglyDeadLettered: number;
  /** Messages SQS itself moved to the DLQ after maxReceiveCount receives (no Settle reason). */
  readonly redriven: number;
  /**
   * …of which the worker had applied (and saved) before the last receive's delete was lost: in the ledger once
   * and in the DLQ. Not a lost or double update, but a redrive of that letter would apply it again.
   */
  readonly redrivenApplied: number;
  /** Up to 20 descriptions of lost, double-applied or redriven events, for investigation. */
  readonly anomalies: readonly string[];
  readonly durationMs: number;
  readonly eventsPerSecond: number;
}

interface SentEvent {
  readonly index: number;
  readonly group: string;
  readonly body: string;
  readonly kind: 'good' | 'poison';
  readonly n?: number;
  readonly code?: 'invalid-json' | 'schema-violation';
  sequenceNumber?: string;
  messageId?: string;
}

interface ChildSlot {
  readonly slot: number;
  process: ChildProcess | undefined;
  ready: boolean;
  /** Batches in flight in this child: their highest receive count, by first message id. */
  readonly active: Map<string, number>;
  stderr: string[];
}

const childScript = fileURLToPath(new URL('./worker-child.ts', import.meta.url));
const spareReceives = 3;

/** Polls `probe` until it returns a value, at most `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export class ChaosRun {
  private readonly random: () => number;
  private readonly log: (message: string) => void;
  private directory: string | undefined;
  private emulators: Emulators | undefined;
  private clients: LocalClients | undefined;
  private resources: ProvisionedResources | undefined;
  private bundle: string | undefined;
  private env: Record<string, string> = {};
  private readonly slots: ChildSlot[] = [];
  private stopping = false;
  private externalTimer: NodeJS.Timeout | undefined;
  private nextPoint = 0;
  private disposed: Promise<void> | undefined;

  private readonly counts = {
    incarnations: 0,
    kills: 0,
    externalKills: 0,
    byPoint: Object.fromEntries(killPoints.map((point) => [point, 0])) as Record<KillPoint, number>,
    batches: 0,
    deliveries: 0,
    deleted: 0,
    conflicts: 0,
    retries: 0,
    deadLettersSent: 0,
    resends: 0,
    slowRedeliveries: 0,
  };
  private readonly receives = new Map<string, number>();
  private readonly effects = new Map<string, number>();
  private readonly sent: SentEvent[] = [];

  constructor(private readonly options: ChaosOptions) {
    this.random = seededRandom(options.seed);
    this.log = options.log ?? (() => undefined);
  }

  async execute(): Promise<ChaosReport> {
    const started = performance.now();
    this.directory = await mkdtemp(join(tmpdir(), 'settle-chaos-'));
    this.bundle = await bundleChild(this.directory);
    this.emulators = await startEmulators({});
    this.clients = createLocalClients({ sqsEndpoint: this.emulators.sqsEndpoint, dynamodbEndpoint: this.emulators.dynamodbEndpoint });
    this.resources = await provision({ sqs: this.clients.sqs, dynamodb: this.clients.dynamodb });
    this.env = {
      PATH: process.env.PATH ?? '',
      AWS_REGION: localRegion,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_SQS: this.emulators.sqsEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: this.emulators.dynamodbEndpoint,
      [environmentVariables.tableName]: this.resources.tableName,
      [environmentVariables.queueUrl]: this.resources.queueUrl,
      [environmentVariables.deadLetterQueueUrl]: this.resources.deadLetterQueueUrl,
      [environmentVariables.maxReceiveCount]: String(maxReceiveCount),
      [environmentVariables.settleMarginMs]: '1000',
      CHAOS_SPARE_RECEIVES: String(spareReceives),
      CHAOS_POLL_LOOPS: String(this.options.pollLoops),
      CHAOS_VISIBILITY_SECONDS: String(this.options.visibilitySeconds),
      CHAOS_SLOW_MS: String(this.options.slowMs),
    };

    for (let slot = 0; slot < this.options.workers; slot += 1) {
      this.slots.push({ slot, process: undefined, ready: false, active: new Map(), stderr: [] });
      this.spawnChild(this.slots[slot] as ChildSlot);
    }
    await waitFor(() => (this.slots.every((slot) => slot.ready) ? true : undefined), 30_000, 'the worker children to start');
    this.scheduleExternalKill();

    const sendStarted = performance.now();
    await this.produce();
    this.log(`chaos: sent ${this.sent.length} events in ${Math.round(performance.now() - sendStarted)} ms; draining`);
    await this.drain();
    this.stopping = true;
    clearTimeout(this.externalTimer);
    await this.stopChildren();
    const durationMs = performance.now() - started;
    return this.verify(durationMs);
  }

  /** Kills every child, stops the emulators and removes the bundle. Safe to call more than once, and after a failure. */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      this.stopping = true;
      clearTimeout(this.externalTimer);
      await this.stopChildren().catch(() => undefined);
      this.clients?.destroy();
      await this.emulators?.stop().catch(() => undefined);
      if (this.directory) await rm(this.directory, { recursive: true, force: true });
    })();
    return this.disposed;
  }

  /** stderr tails of the children, for a failure message. */
  diagnostics(): string {
    return this.slots.map((slot) => `child ${slot.slot}:\n  ${slot.stderr.slice(-10).join('\n  ')}`).join('\n');
  }

  // -------------------------------------------------------------------------------------------
  // Children

  private spawnChild(slot: ChildSlot): void {
    const point = killPoints[this.nextPoint++ % killPoints.length] as KillPoint;
    // Occurrences are per record for most points; a dead letter is rare (poison share) and the batch points
    // come once per batch of up to ten, so those fire at earlier occurrences.
    const life =
      point === 'after-dead-letter'
        ? 2
        : point === 'after-receive' || point === 'mid-batch'
          ? Math.max(1, Math.round((2 * this.options.meanLife) / 5))
          : 2 * this.options.meanLife;
    const at = 1 + Math.floor(this.random() * life);
    const child = spawn(process.execPath, [this.bundle as string], {
      env: { ...this.env, CHAOS_KILL_POINT: point, CHAOS_KILL_AT: String(at) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.counts.incarnations += 1;
    slot.process = child;
    slot.ready = false;
    slot.active.clear();
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => this.onReport(slot, line));
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      slot.stderr.push(line);
      if (slot.stderr.length > 50) slot.stderr.shift();
    });
    child.on('exit', (code, signal) => {
      if (slot.process !== child) return;
      slot.process = undefined;
      slot.ready = false;
      if (signal === 'SIGKILL') this.counts.kills += 1;
      else if (!this.stopping) this.log(`chaos: child ${slot.slot} exited with ${code ?? signal}: ${slot.stderr.slice(-3).join(' | ')}`);
      if (!this.stopping) this.spawnChild(slot);
    });
  }

  private onReport(slot: ChildSlot, line: string): void {
    let report: ChildReport;
    try {
      report = JSON.parse(line) as ChildReport;
    } catch {
      slot.stderr.push(`stdout: ${line}`);
      return;
    }
    switch (report.t) {
      case 'ready':
        slot.ready = true;
        break;
      case 'b': {
        this.counts.batches += 1;
        let highest = 0;
        for (const [messageId, receiveCount] of report.r) {
          this.counts.deliveries += 1;
          this.receives.set(messageId, (this.receives.get(messageId) ?? 0) + 1);
          highest = Math.max(highest, receiveCount);
        }
        slot.active.set(report.id, highest);
        break;
      }
      case 'ack':
        slot.active.delete(report.id);
        this.counts.deleted += report.d;
        break;
      case 'fx':
        this.effects.set(report.k, (this.effects.get(report.k) ?? 0) + 1);
        break;
      case 'conflict':
        this.counts.conflicts += 1;
        break;
      case 'retry':
        this.counts.retries += 1;
        break;
      case 'dl':
        this.counts.deadLettersSent += 1;
        break;
      case 'kill':
        this.counts.byPoint[report.point] += 1;
        break;
    }
  }

  /** At random moments the parent SIGKILLs a random child — one whose batches may be killed (see worker-child.ts). */
  private scheduleExternalKill(): void {
    if (this.options.externalKillIntervalMs <= 0 || this.stopping) return;
    const delay = this.options.externalKillIntervalMs * (0.5 + this.random());
    this.externalTimer = setTimeout(() => {
      const candidates = this.slots.filter(
        (slot) => slot.process && slot.ready && [...slot.active.values()].every((receives) => receives < spareReceives),
      );
      const victim = candidates[Math.floor(this.random() * candidates.length)];
      if (victim?.process) {
        this.counts.externalKills += 1;
        victim.process.kill('SIGKILL');
      }
      this.scheduleExternalKill();
    }, delay);
  }

  private async stopChildren(): Promise<void> {
    const exits = this.slots.flatMap((slot) => {
      const child = slot.process;
      if (!child || child.exitCode !== null || child.signalCode !== null) return [];
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      return [exited];
    });
    await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  }

  // -------------------------------------------------------------------------------------------
  // Producer and drain

  private planEvents(): SentEvent[] {
    const next = new Map<string, number>();
    const events: SentEvent[] = [];
    for (let index = 0; index < this.options.events; index += 1) {
      const group = `${ledgerMachineName}/i-${Math.floor(this.random() * this.options.instances)}`;
      if (this.random() < this.options.poisonShare) {
        const code = this.random() < 0.5 ? 'invalid-json' : 'schema-violation';
        const body = code === 'invalid-json' ? `{"type":"ADD","n":${index},"poison":` : `{"type":"ADD","poison":"p-${index}"}`;
        events.push({ index, group, body, kind: 'poison', code });
        continue;
      }
      const n = (next.get(group) ?? 0) + 1;
      next.set(group, n);
      const slow = this.random() < this.options.slowShare;
      events.push({ index, group, body: JSON.stringify(slow ? { type: 'ADD', n, slow: true } : { type: 'ADD', n }), kind: 'good', n });
    }
    return events;
  }

  private async produce(): Promise<void> {
    const { sqs } = this.clients as LocalClients;
    const queueUrl = (this.resources as ProvisionedResources).queueUrl;
    const events = this.planEvents();
    const entry = (event: SentEvent, id: string) => ({
      Id: id,
      MessageBody: event.body,
      MessageGroupId: event.group,
      MessageDeduplicationId: `e-${event.index}`,
    });
    const began = Date.now();
    let lastLog = began;
    for (let start = 0; start < events.length; start += 10) {
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        const seconds = (lastLog - began) / 1000;
        this.log(
          `chaos: ${Math.round(seconds)} s, sent ${this.sent.length}/${events.length}, deleted ${this.counts.deleted}, ` +
            `kills ${this.counts.kills}, ${Math.round(this.counts.deleted / seconds)} deletes/s`,
        );
      }
      await waitFor(
        () => (this.sent.length - this.counts.deleted <= this.options.maxBacklog ? true : undefined),
        this.options.drainTimeoutMs,
        `the backlog to fall under ${this.options.maxBacklog} (sent ${this.sent.length}, deleted ${this.counts.deleted})`,
        10,
      );
      const chunk = events.slice(start, start + 10);
      const { Successful = [], Failed = [] } = await sqs.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: chunk.map((event, i) => entry(event, String(i))) }),
      );
      if (Failed.length > 0) throw new Error(`SendMessageBatch failed: ${JSON.stringify(Failed)}`);
      for (const success of Successful) {
        const event = chunk[Number(success.Id)];
        if (event) {
          event.sequenceNumber = success.SequenceNumber;
          event.messageId = success.MessageId;
        }
      }
      this.sent.push(...chunk);
      // A producer retry of an event already sent: the same deduplication id, so SQS must drop it.
      if (this.random() < this.options.resendShare * 10 && this.sent.length > 20) {
        const again = this.sent[this.sent.length - 1 - Math.floor(this.random() * 20)] as SentEvent;
        await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [entry(again, 'again')] }));
        this.counts.resends += 1;
      }
    }
  }

  /** Waits until no message is visible, in flight or delayed. */
  private async drain(): Promise<void> {
    const { sqs } = this.clients as LocalClients;
    const queueUrl = (this.resources as ProvisionedResources).queueUrl;
    let quiet = 0;
    let lastLog = Date.now();
    await waitFor(
      async () => {
        const { Attributes = {} } = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: queueUrl,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
          }),
        );
        const empty = Object.values(Attributes).every((value) => value === '0');
        if (Date.now() - lastLog > 2_000) {
          lastLog = Date.now();
          this.log(`chaos: draining, queue ${JSON.stringify(Attributes)}, deleted ${this.counts.deleted}, kills ${this.counts.kills}`);
        }
        quiet = empty ? quiet + 1 : 0;
        return quiet >= 3 ? true : undefined;
      },
      this.options.drainTimeoutMs,
      'the events queue to drain',
      100,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Verification

  private async readTable(): Promise<Map<string, { log: number[]; lastSeq: string }>> {
    const { document } = this.clients as LocalClients;
    const items = new Map<string, { log: number[]; lastSeq: string }>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await document.send(
        new ScanCommand({
          TableName: (this.resources as ProvisionedResources).tableName,
          ExclusiveStartKey: startKey,
          ConsistentRead: true,
        }),
      );
      for (const item of page.Items ?? []) {
        const snapshot = JSON.parse(String(item.snapshot)) as { context: { log: number[] } };
        items.set(String(item.pk), { log: snapshot.context.log, lastSeq: String(item.lastSeq) });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  private async readDeadLetters(): Promise<Message[]> {
    const { sqs } = this.clients as LocalClients;
    const queueUrl = (this.resources as ProvisionedResources).deadLetterQueueUrl;
    const letters: Message[] = [];
    let empty = 0;
    await waitFor(
      async () => {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }),
        );
        letters.push(...Messages);
        if (Messages.length > 0) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle })),
            }),
          );
        }
        empty = Messages.length === 0 ? empty + 1 : 0;
        return empty >= 3 ? true : undefined;
      },
      60_000,
      'the dead-letter queue to be read',
      0,
    );
    return letters;
  }

  private async verify(durationMs: number): Promise<ChaosReport> {
    const items = await this.readTable();
    const letters = await this.readDeadLetters();

    const byBody = new Map(this.sent.map((event) => [event.body, event]));
    const reasonLetters = new Map<number, string[]>();
    const redriven = new Set<number>();
    let wronglyDeadLettered = 0;
    for (const letter of letters) {
      const event = byBody.get(letter.Body ?? '');
      if (!event) throw new Error(`A dead letter matches no event sent: ${letter.Body}`);
      const code = letter.MessageAttributes?.[deadLetterAttributes.error]?.StringValue;
      if (code === undefined) redriven.add(event.index);
      else {
        reasonLetters.set(event.index, [...(reasonLetters.get(event.index) ?? []), code]);
        if (event.kind === 'good') wronglyDeadLettered += 1;
      }
    }

    const poison = this.sent.filter((event) => event.kind === 'poison');
    let missing = 0;
    let wrongReason = 0;
    let repeats = 0;
    for (const event of poison) {
      const codes = reasonLetters.get(event.index) ?? [];
      if (codes.length === 0 && !redriven.has(event.index)) missing += 1;
      if (codes.some((code) => code !== event.code)) wrongReason += 1;
      repeats += Math.max(0, codes.length - 1);
    }

    let lost = 0;
    let doubleApplied = 0;
    let orderViolations = 0;
    let unexpected = 0;
    let lastSeqMismatches = 0;
    let effectsMissing = 0;
    let redrivenApplied = 0;
    const anomalies: string[] = [];
    const note = (what: string, event: SentEvent) => {
      if (anomalies.length < 20) {
        anomalies.push(
          `${what}: ${event.group} ${event.kind} n=${event.n ?? '-'} seq=${event.sequenceNumber} handler deliveries=${this.receives.get(event.messageId ?? '') ?? 0}`,
        );
      }
    };
    const groups = new Map<string, SentEvent[]>();
    for (const event of this.sent) groups.set(event.group, [...(groups.get(event.group) ?? []), event]);
    for (const [group, events] of groups) {
      const item = items.get(group);
      const log = item?.log ?? [];
      const counts = new Map<number, number>();
      for (const n of log) counts.set(n, (counts.get(n) ?? 0) + 1);
      const good = events.filter((event) => event.kind === 'good');
      for (const event of good) {
        const count = counts.get(event.n as number) ?? 0;
        if (count === 0 && !redriven.has(event.index)) {
          lost += 1;
          note('lost', event);
        }
        if (count > 1) {
          doubleApplied += count - 1;
          note('applied twice', event);
        }
        if (count === 1 && redriven.has(event.index)) {
          redrivenApplied += 1;
          note('applied and redriven by SQS', event);
        } else if (count === 0 && redriven.has(event.index)) note('redriven by SQS, not applied', event);
        if (count > 0 && !this.effects.has(`${group}#${event.sequenceNumber ?? ''}`)) effectsMissing += 1;
      }
      const known = new Set(good.map((event) => event.n));
      unexpected += log.filter((n) => !known.has(n)).length;
      orderViolations += log.filter((n, index) => index > 0 && n < (log[index - 1] as number)).length;
      // lastSeq is one of the group's events, no applied event lies beyond it, and whatever lies beyond it was redriven.
      const at = item
        ? events.findIndex((event) => event.sequenceNumber !== undefined && BigInt(event.sequenceNumber) === BigInt(item.lastSeq))
        : -1;
      const lastApplied = events.reduce(
        (last, event, index) => (event.kind === 'good' && counts.has(event.n as number) ? index : last),
        -1,
      );
      const beyond = events.slice(at + 1);
      if (
        (item && at < 0) ||
        lastApplied > at ||
        beyond.some((event) => !redriven.has(event.index) && !(event.kind === 'poison' && reasonLetters.has(event.index)))
      ) {
        lastSeqMismatches += 1;
      }
    }

    const slow = this.sent.filter((event) => event.body.includes('"slow":true'));
    const runs = [...this.effects.values()].reduce((sum, count) => sum + count, 0);
    const duplicatesDelivered = [...this.receives.values()].reduce((sum, count) => sum + count - 1, 0);
    return {
      seed: this.options.seed,
      events: this.sent.length,
      goodEvents: this.sent.length - poison.length,
      poisonEvents: poison.length,
      instances: groups.size,
      workers: this.options.workers,
      pollLoops: this.options.pollLoops,
      kills: { total: this.counts.kills, external: this.counts.externalKills, byPoint: { ...this.counts.byPoint } },
      incarnations: this.counts.incarnations,
      batches: this.counts.batches,
      deliveries: this.counts.deliveries,
      duplicatesDelivered,
      slowEvents: slow.length,
      slowEventsRedelivered: slow.filter((event) => (this.receives.get(event.messageId ?? '') ?? 0) >= 2).length,
      conflicts: this.counts.conflicts,
      groupRetries: this.counts.retries,
      producerResends: this.counts.resends,
      sideEffects: { runs, reRuns: runs - this.effects.size, missing: effectsMissing },
      lost,
      doubleApplied,
      orderViolations,
      unexpected,
      lastSeqMismatches,
      deadLettered: { expected: poison.length, found: reasonLetters.size, missing, wrongReason, repeats },
      wronglyDeadLettered,
      redriven: redriven.size,
      redrivenApplied,
      anomalies,
      durationMs: Math.round(durationMs),
      eventsPerSecond: Math.round((this.sent.length / durationMs) * 1000),
    };
  }
}

/** Bundles the child script once per run: starting a bundle costs ~0.15 s of CPU, tsx's loader ~0.6 s. */
async function bundleChild(directory: string): Promise<string> {
  const outfile = join(directory, 'worker-child.mjs');
  await build({
    entryPoints: [childScript],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    // Some SDK dependencies still call require(); give the ESM bundle one.
    banner: { js: "import { createRequire as __settleRequire } from 'node:module'; const require = __settleRequire(import.meta.url);" },
  });
  return outfile;
}
