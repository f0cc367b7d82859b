import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { defaults, type SettleServiceProps, resolveProps } from '../../infra/props.ts';
import { SettleService } from '../../infra/settle-service.ts';
import { fixtureEntry, skipBundling } from './helpers.ts';

const withEntries = (props: SettleServiceProps): SettleServiceProps => ({
  workerEntry: fixtureEntry,
  sweeperEntry: fixtureEntry,
  ...props,
});

/** Runs `fn` and returns what it threw, counting the throws (there can be only one). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('SettleService', () => {
  describe('props', () => {
    it('throws once, naming every problem, before creating any resource', () => {
      const app = new App({ context: skipBundling });
      const stack = new Stack(app, 'TestStack');

      const error = thrown(
        () =>
          new SettleService(stack, 'Settle', {
            workerTimeout: Duration.millis(1500),
            workerMemorySize: 64,
            maxConcurrency: 1,
            logLevel: 'LOUD' as never,
            removalPolicy: RemovalPolicy.SNAPSHOT,
            oldestEventAgeAlarmThreshold: Duration.seconds(30),
            workerEntry: '/nowhere/worker.ts',
            sweeperEntry: 'functions/sweeper.py',
            outputPrefix: 'settle-orders',
          }),
      );

      expect(error.message).toMatch(/^Invalid SettleService props: /);
      for (const prop of [
        'workerTimeout',
        'workerMemorySize',
        'maxConcurrency',
        'logLevel',
        'removalPolicy',
        'oldestEventAgeAlarmThreshold',
        'workerEntry',
        'sweeperEntry',
        'outputPrefix',
      ]) {
        expect(error.message).toContain(`${prop} `);
      }
      expect(error.message.split('; ')).toHaveLength(9);
      expect(stack.node.findAll().filter((c) => c !== stack)).toEqual([]);
    });

    it('accepts the defaults', () => {
      expect(resolveProps(withEntries({}))).toEqual({
        workerTimeoutSeconds: 30,
        eventTimeoutMs: 10_000,
        workerMemorySize: 512,
        maxConcurrency: 10,
        logLevel: 'INFO',
        logRetention: defaults.logRetention,
        tracing: false,
        removalPolicy: RemovalPolicy.RETAIN,
        oldestEventAgeAlarmThresholdSeconds: 300,
        worker: { entry: fixtureEntry },
        sweeperEntry: fixtureEntry,
        outputPrefix: 'Settle',
      });
    });

    it('bounds each event by the worker timeout less the 2 s kept back, by default and when given', () => {
      expect(resolveProps(withEntries({ workerTimeout: Duration.seconds(5) })).eventTimeoutMs).toBe(3000);
      expect(resolveProps(withEntries({ workerTimeout: Duration.seconds(60), eventTimeout: Duration.seconds(45) })).eventTimeoutMs).toBe(
        45_000,
      );
      expect(() => resolveProps(withEntries({ workerTimeout: Duration.seconds(30), eventTimeout: Duration.seconds(29) }))).toThrow(
        /eventTimeout must be whole milliseconds from 1 ms to the worker timeout less 2000 ms \(28000 ms\), got 29000 ms/,
      );
    });

    it("defaults the sweeper to Settle's own entry, and no worker: the machines are the app's", () => {
      expect(defaults.sweeperEntry).toMatch(/\/functions\/sweeper\.ts$/);
      expect(() => resolveProps({})).toThrow(
        /the worker needs your machines: give registry \(a module that exports your registry\) or workerEntry \(a file that exports handler = lambdaHandler\(registry\)\)/,
      );
      expect(() => resolveProps({ workerEntry: fixtureEntry, registry: fixtureEntry })).toThrow(/give workerEntry or registry, not both/);
      expect(resolveProps({ registry: fixtureEntry }).worker).toEqual({ registry: fixtureEntry });
    });

    it.each<[string, SettleServiceProps, RegExp]>([
      [
        'a worker timeout in part-seconds',
        { workerTimeout: Duration.millis(2500) },
        /workerTimeout must be whole seconds from 3 to 900.*got 2\.5 s/,
      ],
      ['a worker timeout too short for the settle margin', { workerTimeout: Duration.seconds(2) }, /workerTimeout .* got 2 s/],
      ["a worker timeout past Lambda's 15 minutes", { workerTimeout: Duration.minutes(16) }, /workerTimeout .* got 960 s/],
      ['fractional memory', { workerMemorySize: 512.5 }, /workerMemorySize must be a whole number of MB from 128 to 10240, got 512.5/],
      ['memory over 10 GB', { workerMemorySize: 10_241 }, /workerMemorySize .* got 10241/],
      ['maxConcurrency below 2', { maxConcurrency: 1 }, /maxConcurrency must be a whole number from 2 to 1000 .*got 1$/],
      ['maxConcurrency over 1000', { maxConcurrency: 1001 }, /maxConcurrency .* got 1001/],
      [
        'an unknown log level',
        { logLevel: 'info' as never },
        /logLevel must be one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT, got 'info'/,
      ],
      [
        'a SNAPSHOT removal policy',
        { removalPolicy: RemovalPolicy.SNAPSHOT },
        /removalPolicy must be one of retain, retain-on-update-or-delete, destroy .* got 'snapshot'/,
      ],
      [
        'an alarm threshold in seconds',
        { oldestEventAgeAlarmThreshold: Duration.seconds(90) },
        /oldestEventAgeAlarmThreshold must be whole minutes .* got 90 s/,
      ],
      [
        'an alarm threshold past the retention',
        { oldestEventAgeAlarmThreshold: Duration.days(4) },
        /oldestEventAgeAlarmThreshold .*\(96 h\), got 345600 s/,
      ],
      ['a missing entry file', { workerEntry: '/nowhere/worker.ts' }, /workerEntry '\/nowhere\/worker\.ts' does not exist/],
      [
        'an entry that is not JavaScript or TypeScript',
        { sweeperEntry: 'sweeper.py' },
        /sweeperEntry must be a \.ts or \.js file, got 'sweeper\.py'/,
      ],
      [
        'an output prefix that is not a logical id',
        { outputPrefix: 'orders_settle' },
        /outputPrefix must be 1 to 200 letters or digits \(stack output keys are CloudFormation logical ids\), got 'orders_settle'/,
      ],
    ])('rejects %s', (_, props, message) => {
      const error = thrown(() => resolveProps(withEntries(props)));
      expect(error.message.replace(/^Invalid SettleService props: /, '').replace(/\.$/, '')).toMatch(message);
      expect(error.message.split('; ')).toHaveLength(1);
    });

    it.each<[string, SettleServiceProps]>([
      ['the shortest worker timeout', { workerTimeout: Duration.seconds(3) }],
      ['the longest worker timeout', { workerTimeout: Duration.minutes(15) }],
      ['the concurrency bounds', { maxConcurrency: 2 }],
      ['the concurrency bounds', { maxConcurrency: 1000 }],
      ['RETAIN_ON_UPDATE_OR_DELETE', { removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE }],
      ['an alarm threshold of one minute', { oldestEventAgeAlarmThreshold: Duration.minutes(1) }],
      ['an output prefix of letters and digits', { outputPrefix: 'Orders2' }],
    ])('accepts %s', (_, props) => {
      expect(() => resolveProps(withEntries(props))).not.toThrow();
    });
  });
});
