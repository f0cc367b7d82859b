import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { HttpMethod, HttpNoneAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccountRootPrincipal, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterEach, describe, expect, it } from 'vitest';
import type { SettleServiceProps } from '../../infra/settle-service.ts';
import { SettleStack } from '../../infra/settle-stack.ts';
import { fixtureEntry, skipBundling } from './helpers.ts';

const outdirs: string[] = [];
afterEach(() => {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function settleApp(service: SettleServiceProps = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'settle-nag-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: skipBundling });
  const stack = new SettleStack(app, 'SettleStack', {
    service: { workerEntry: fixtureEntry, sweeperEntry: fixtureEntry, ...service },
  });
  return { app, stack, outdir };
}

/** The IAM5 finding id cdk-nag gives a wildcard on the payload bucket's objects under a prefix. */
function bucketWildcard(stack: SettleStack, prefix: string): string {
  const bucket = stack.resolve(stack.service.bucket.bucketArn)['Fn::GetAtt'][0];
  return `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/${prefix}*]`;
}

/** Every acknowledgement recorded in the tree: where, which rule, and why. */
function acknowledgements(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe('SettleService', () => {
  describe('cdk-nag AwsSolutions', () => {
    it.each<[string, SettleServiceProps]>([
      ['the defaults', {}],
      ['tracing on', { tracing: true }],
      ['a JWT authoriser', { api: { jwt: { issuer: 'https://issuer.example.com/', audience: ['settle-client'] } } }],
      ['no API', { api: false }],
    ])('reports no unacknowledged error or warning (%s)', (_, props) => {
      const { app } = settleApp(props);

      const report = new AwsSolutionsChecks(app).validateScope(app);

      expect(report.violations).toEqual([]);
      expect(report.success).toBe(true);
    });

    it('reports nothing for a role given grantClient: exact actions on exact ARNs, no Resource::*', () => {
      const { app, stack } = settleApp();
      stack.service.grantClient(new Role(stack, 'Operator', { assumedBy: new AccountRootPrincipal() }));

      const report = new AwsSolutionsChecks(app).validateScope(app);

      expect(report.violations).toEqual([]);
      expect(report.success).toBe(true);
    });

    it('reports nothing for a role given grantInvokeApi: its route wildcards acknowledged on it, one by one, with the reason', () => {
      const { app, stack } = settleApp();
      const caller = new Role(stack, 'Caller', { assumedBy: new AccountRootPrincipal() });
      stack.service.grantInvokeApi(caller);

      const report = new AwsSolutionsChecks(app).validateScope(app);

      expect(report.violations).toEqual([]);
      const api = stack.resolve((stack.service.httpApi as NonNullable<typeof stack.service.httpApi>).apiId).Ref;
      const prefix = `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${api}>`;
      expect(acknowledgements(caller)).toEqual(
        ['/*/POST/instances/*/*/events]', '/*/GET/instances/*/*]', '/*/GET/instances]'].map((suffix) => ({
          path: 'SettleStack/Caller',
          id: prefix + suffix,
          reason: expect.stringContaining('which IAM can only match with a wildcard'),
        })),
      );
    });

    it('would flag a route added without an authoriser: only the two callback routes are acknowledged', () => {
      const { app, stack } = settleApp();
      const { httpApi, apiFunction } = stack.service;
      if (!httpApi || !apiFunction) throw new Error('no API');
      httpApi.addRoutes({
        path: '/open',
        methods: [HttpMethod.GET],
        integration: new HttpLambdaIntegration('Open', apiFunction),
        authorizer: new HttpNoneAuthorizer(),
      });

      const report = new AwsSolutionsChecks(app).validateScope(app);

      expect(report.violations.map((v) => [v.ruleName, v.violatingResources.map((r) => r.constructPath)])).toEqual([
        ['AwsSolutions-APIG4', ['SettleStack/Settle/Api/GET--open/Resource']],
      ]);
    });

    it('passes as a synthesis validation plugin, as the app registers it', () => {
      const { app, outdir } = settleApp();
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

      expect(() => app.synth()).not.toThrow();
      const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
      expect(report.pluginReports).toEqual([]);
    });

    it("acknowledges only the access-log bucket's own logs, the bucket prefix wildcards, the runtime pin, the unrotated callback key and the open callback routes, each with a reason", () => {
      const { app, stack } = settleApp();
      const callbackRoute = (method: string) => ({
        path: `SettleStack/Settle/Api/${method}--callbacks--{token}`,
        id: 'AwsSolutions-APIG4',
        reason: expect.stringMatching(/the signed, expiring token in the path is its authority, and the handler verifies it/),
      });

      const accessLogBucket = {
        path: 'SettleStack/Settle/AccessLogBucket',
        id: 'AwsSolutions-S1',
        reason: expect.stringMatching(
          /^The payload bucket's server access-log bucket: logging its own access would log its log deliveries/,
        ),
      };
      const prefixWildcards = (role: string) =>
        ['events/', 'snapshots/'].map((prefix) => ({
          path: `SettleStack/Settle/${role}`,
          id: bucketWildcard(stack, prefix),
          reason: expect.stringMatching(
            new RegExp(`^Objects under ${prefix} in the Settle payload bucket: .*IAM can only match with a wildcard`),
          ),
        }));

      expect(acknowledgements(app)).toEqual([
        accessLogBucket,
        {
          path: 'SettleStack/Settle/CallbackSecret',
          id: 'AwsSolutions-SMG4',
          reason: expect.stringMatching(/^Not rotated automatically on purpose: .*a rotated key invalidates every outstanding link/),
        },
        callbackRoute('GET'),
        callbackRoute('POST'),
        ...prefixWildcards('WorkerRole'),
        {
          path: 'SettleStack/Settle/Worker',
          id: 'AwsSolutions-L1',
          reason: expect.stringMatching(/^Pinned to nodejs22\.x on purpose: .{40,}/),
        },
        {
          path: 'SettleStack/Settle/Sweeper',
          id: 'AwsSolutions-L1',
          reason: expect.stringMatching(/^Pinned to nodejs22\.x on purpose: .{40,}/),
        },
        ...prefixWildcards('ApiRole'),
        {
          path: 'SettleStack/Settle/ApiFunction',
          id: 'AwsSolutions-L1',
          reason: expect.stringMatching(/^Pinned to nodejs22\.x on purpose: .{40,}/),
        },
      ]);
      const withoutApi = settleApp({ api: false });
      expect(acknowledgements(withoutApi.app).map(({ path, id }) => `${path} ${id}`)).toEqual([
        'SettleStack/Settle/AccessLogBucket AwsSolutions-S1',
        `SettleStack/Settle/WorkerRole ${bucketWildcard(withoutApi.stack, 'events/')}`,
        `SettleStack/Settle/WorkerRole ${bucketWildcard(withoutApi.stack, 'snapshots/')}`,
        'SettleStack/Settle/Worker AwsSolutions-L1',
        'SettleStack/Settle/Sweeper AwsSolutions-L1',
      ]);
    });

    it('acknowledges the X-Ray Resource::* grant only when tracing is on, with the reason', () => {
      const { app } = settleApp({ tracing: true });

      expect(acknowledgements(app).filter(({ id }) => id === 'AwsSolutions-IAM5[Resource::*]')).toEqual([
        {
          path: 'SettleStack/Settle/WorkerRole',
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: expect.stringContaining('do not support resource-level permissions'),
        },
        {
          path: 'SettleStack/Settle/SweeperRole',
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: expect.stringContaining('do not support resource-level permissions'),
        },
        {
          path: 'SettleStack/Settle/ApiRole',
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: expect.stringContaining('do not support resource-level permissions'),
        },
      ]);
    });

    it('acknowledges exactly the two bucket prefix wildcards on a role given grantClient, and nothing else', () => {
      const { app, stack } = settleApp();
      const operator = new Role(stack, 'Operator', { assumedBy: new AccountRootPrincipal() });
      stack.service.grantClient(operator);

      expect(acknowledgements(operator).map(({ path, id }) => `${path} ${id}`)).toEqual([
        `SettleStack/Operator ${bucketWildcard(stack, 'events/')}`,
        `SettleStack/Operator ${bucketWildcard(stack, 'snapshots/')}`,
      ]);
      expect(new AwsSolutionsChecks(app).validateScope(app).violations).toEqual([]);
    });

    it('would flag the payload bucket without its access logs, and a bucket wildcard granted outside the construct', () => {
      const { app, stack } = settleApp();
      (stack.service.bucket.node.defaultChild as CfnBucket).loggingConfiguration = undefined;
      const other = new Role(stack, 'Other', { assumedBy: new AccountRootPrincipal() });
      other.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['s3:GetObject'], resources: [stack.service.bucket.arnForObjects('events/*')] }),
      );

      const report = new AwsSolutionsChecks(app).validateScope(app);

      expect(report.violations.map((v) => [v.ruleName, v.violatingResources.map((r) => r.constructPath)])).toEqual([
        ['AwsSolutions-S1', ['SettleStack/Settle/Bucket/Resource']],
        [bucketWildcard(stack, 'events/'), ['SettleStack/Other/DefaultPolicy/Resource']],
      ]);
    });

    it('would flag an unencrypted queue: the check is live, not silenced wholesale', () => {
      const { app, stack } = settleApp();
      new Queue(stack, 'Unencrypted', { encryption: QueueEncryption.UNENCRYPTED });

      const report = new AwsSolutionsChecks(app).validateScope(app);

      expect(report.violations.map((v) => v.ruleName).sort()).toEqual(['AwsSolutions-SQS2', 'AwsSolutions-SQS3', 'AwsSolutions-SQS4']);
    });
  });
});
