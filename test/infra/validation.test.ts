import { App, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
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
            snapshotOffloadBytes: -1,
            workerEntry: '/nowhere/worker.ts',
            sweeperEntry: 'functions/sweeper.py',
            outputPrefix: 'settle-orders',
            api: { jwt: { issuer: 'http://issuer.example.com/', audience: [] }, throttle: { rateLimit: 0, burstLimit: 1.5 } },
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
        'snapshotOffloadBytes',
        'workerEntry',
        'sweeperEntry',
        'outputPrefix',
        'api.jwt.issuer',
        'api.jwt.audience',
        'api.throttle.rateLimit',
        'api.throttle.burstLimit',
      ]) {
        expect(error.message).toContain(`${prop} `);
      }
      expect(error.message.split('; ')).toHaveLength(14);
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
        snapshotOffloadBytes: undefined,
        worker: { entry: fixtureEntry },
        sweeperEntry: fixtureEntry,
        outputPrefix: 'Settle',
        api: { jwt: undefined, rateLimit: 50, burstLimit: 100 },
      });
    });

    it('resolves the API props: off, IAM with the default throttling, or JWT over an issuer with its audiences', () => {
      expect(resolveProps(withEntries({ api: false })).api).toBe(false);
      expect(resolveProps(withEntries({ api: {} })).api).toEqual({ jwt: undefined, rateLimit: 50, burstLimit: 100 });
      expect(
        resolveProps(
          withEntries({
            api: {
              jwt: { issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc', audience: ['client'] },
              throttle: { rateLimit: 5 },
            },
          }),
        ).api,
      ).toEqual({
        jwt: { issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc', audience: ['client'] },
        rateLimit: 5,
        burstLimit: 100,
      });
      // An issuer from another construct (a user pool's provider URL) is a token: taken as is.
      const issuer = Token.asString({ Ref: 'UserPoolProviderUrl' });
      expect(resolveProps(withEntries({ api: { jwt: { issuer, audience: ['client'] } } })).api).toMatchObject({ jwt: { issuer } });
    });

    it('takes the snapshot offload threshold as given, and leaves it to the runtime when not', () => {
      expect(resolveProps(withEntries({})).snapshotOffloadBytes).toBeUndefined();
      expect('snapshotOffloadBytes' in resolveProps(withEntries({}))).toBe(true);
      expect(resolveProps(withEntries({ snapshotOffloadBytes: 0 })).snapshotOffloadBytes).toBe(0);
      expect(resolveProps(withEntries({ snapshotOffloadBytes: 100_000 })).snapshotOffloadBytes).toBe(100_000);
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
        'an API that is neither false nor props',
        { api: true as never },
        /api must be false \(no API\) or an object of API props, got true/,
      ],
      [
        'a JWT issuer that is not https',
        { api: { jwt: { issuer: 'http://issuer.example.com', audience: ['a'] } } },
        /api\.jwt\.issuer must be the issuer's https:\/\/ URL, exactly as the tokens' iss claim has it .*got 'http:\/\/issuer\.example\.com'/,
      ],
      ['a JWT issuer that is not a URL', { api: { jwt: { issuer: 'my-issuer', audience: ['a'] } } }, /api\.jwt\.issuer .* got 'my-issuer'/],
      [
        'a JWT without an audience',
        { api: { jwt: { issuer: 'https://issuer.example.com', audience: [] } } },
        /api\.jwt\.audience must be a non-empty list of audiences \(client ids\) a token may be for, got \[\]/,
      ],
      [
        'a JWT with a blank audience',
        { api: { jwt: { issuer: 'https://issuer.example.com', audience: ['a', ' '] } } },
        /api\.jwt\.audience .* got \["a"," "\]/,
      ],
      [
        'a rate limit of 0',
        { api: { throttle: { rateLimit: 0 } } },
        /api\.throttle\.rateLimit must be a number of requests per second above 0, got 0/,
      ],
      ['a rate limit that is not a number', { api: { throttle: { rateLimit: Number.NaN } } }, /api\.throttle\.rateLimit .* got NaN/],
      [
        'a fractional burst limit',
        { api: { throttle: { burstLimit: 2.5 } } },
        /api\.throttle\.burstLimit must be a whole number of requests of at least 1, got 2\.5/,
      ],
      ['a burst limit of 0', { api: { throttle: { burstLimit: 0 } } }, /api\.throttle\.burstLimit .* got 0/],
      [
        'a negative snapshot offload threshold',
        { snapshotOffloadBytes: -1 },
        /snapshotOffloadBytes must be a whole number of bytes, 0 or more, got -1$/,
      ],
      ['a fractional snapshot offload threshold', { snapshotOffloadBytes: 1024.5 }, /snapshotOffloadBytes .* got 1024\.5$/],
      ['a snapshot offload threshold that is not a number', { snapshotOffloadBytes: Number.NaN }, /snapshotOffloadBytes .* got NaN$/],
      [
        'an infinite snapshot offload threshold',
        { snapshotOffloadBytes: Number.POSITIVE_INFINITY },
        /snapshotOffloadBytes .* got Infinity$/,
      ],
      ['a snapshot offload threshold as a string', { snapshotOffloadBytes: '65536' as never }, /snapshotOffloadBytes .* got 65536$/],
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
      ['no API', { api: false }],
      ['a snapshot offload threshold of 0 (every snapshot offloaded)', { snapshotOffloadBytes: 0 }],
      ['a fractional rate limit and a burst of 1', { api: { throttle: { rateLimit: 0.5, burstLimit: 1 } } }],
      ['a JWT issuer with a path', { api: { jwt: { issuer: 'https://login.example.com/tenant/v2.0', audience: ['a', 'b'] } } }],
    ])('accepts %s', (_, props) => {
      expect(() => resolveProps(withEntries(props))).not.toThrow();
    });
  });
});
