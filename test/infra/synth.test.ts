import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bundleFileName } from '../../infra/bundling.ts';
import { repositoryRoot, skipBundling } from './helpers.ts';

// These run the real app, so they bundle the real functions/worker.ts and functions/sweeper.ts.

const outdirs: string[] = [];
afterEach(() => {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'settle-synth-'));
  outdirs.push(dir);
  return dir;
}

/** The environment of a machine with no AWS account: no credentials anywhere, no metadata service, no update checks. */
function offlineEnvironment(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^AWS_|^CDK_/.test(name)) env[name] = value;
  }
  return {
    ...env,
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_EC2_METADATA_DISABLED: 'true',
    CDK_DISABLE_VERSION_CHECK: 'true',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
  };
}

function run(command: string, env: NodeJS.ProcessEnv): SpawnSyncReturns<string> & { output: string } {
  const result = spawnSync(command, { cwd: repositoryRoot, env, shell: true, encoding: 'utf8', timeout: 150_000 });
  return Object.assign(result, { output: `${result.stdout ?? ''}\n${result.stderr ?? ''}` });
}

const warnings = (output: string) => output.split('\n').filter((line) => /\[warning|\bdeprecated\b/i.test(line));

function explain(result: { status: number | null; output: string }): string {
  const hint = /schema version mismatch/i.test(result.output)
    ? '\nThe installed aws-cdk CLI cannot read the cloud assembly aws-cdk-lib writes: package.json must pin an aws-cdk CLI ' +
      'that supports aws-cdk-lib 2.276 (2.1148.1 does; the registry\'s "latest", 3.0.0, is a stray release that reads schema ≤ 43).'
    : '';
  return `exit ${result.status}${hint}\n${result.output}`;
}

/**
 * What a synthesized assembly must hold: the stack, two bundles (the API function shares the worker's entry, so its
 * bundle is the worker's), a clean AwsSolutions report.
 */
function expectCompleteAssembly(outdir: string): void {
  const template = JSON.parse(readFileSync(join(outdir, 'SettleStack.template.json'), 'utf8'));
  expect(Object.keys(template.Outputs).sort()).toEqual([
    'GetInstanceCommand',
    'ReceiveDeadLettersCommand',
    'SendEventCommand',
    'SettleApiUrl',
    'SettleBucketName',
    'SettleCallbackSecretArn',
    'SettleDeadLetterQueueUrl',
    'SettleQueueUrl',
    'SettleRegion',
    'SettleTableName',
  ]);

  const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
  expect(assets).toHaveLength(2);
  for (const asset of assets) {
    expect(readdirSync(join(outdir, asset)).sort()).toEqual([bundleFileName, `${bundleFileName}.map`]);
  }

  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  expect(report.pluginReports).toEqual([]);
}

describe('SettleStack', () => {
  describe('synthesis', () => {
    it('the app cdk.json runs synthesizes offline: no warnings, both bundles, a clean AwsSolutions report', () => {
      const outdir = tempDir();
      const { app } = JSON.parse(readFileSync(join(repositoryRoot, 'cdk.json'), 'utf8'));

      const result = run(app, { ...offlineEnvironment(outdir), CDK_OUTDIR: outdir });

      expect(result.status, explain(result)).toBe(0);
      expect(warnings(result.output)).toEqual([]);
      expectCompleteAssembly(outdir);
    }, 180_000);

    it('deletes the table, the buckets, the log groups and the callback secret with the stack under -c destroyOnRemoval=true, and keeps them without', () => {
      const { app } = JSON.parse(readFileSync(join(repositoryRoot, 'cdk.json'), 'utf8'));
      const deletionPolicies = (context: Record<string, string>) => {
        const outdir = tempDir();
        const result = run(app, {
          ...offlineEnvironment(outdir),
          CDK_OUTDIR: outdir,
          CDK_CONTEXT_JSON: JSON.stringify({ ...skipBundling, ...context }),
        });
        expect(result.status, explain(result)).toBe(0);
        const template = JSON.parse(readFileSync(join(outdir, 'SettleStack.template.json'), 'utf8'));
        return Object.values(template.Resources as Record<string, { Type: string; DeletionPolicy?: string }>)
          .filter(({ Type }) =>
            ['AWS::DynamoDB::Table', 'AWS::Logs::LogGroup', 'AWS::S3::Bucket', 'AWS::SecretsManager::Secret'].includes(Type),
          )
          .map(({ Type, DeletionPolicy }) => `${Type} ${DeletionPolicy}`)
          .sort();
      };

      // Log groups: the worker's, the sweeper's, the API function's, the API's access logs. Buckets: the payload bucket and its access logs.
      const resources = [
        'AWS::DynamoDB::Table',
        ...Array(4).fill('AWS::Logs::LogGroup'),
        ...Array(2).fill('AWS::S3::Bucket'),
        'AWS::SecretsManager::Secret',
      ];
      expect(deletionPolicies({ destroyOnRemoval: 'true' })).toEqual(resources.map((type) => `${type} Delete`));
      expect(deletionPolicies({})).toEqual(resources.map((type) => `${type} Retain`));
    }, 180_000);

    it('`npx cdk synth` runs offline with no AWS credentials and prints no warnings', () => {
      const outdir = tempDir();

      const result = run(`npx cdk synth --no-notices --output ${outdir}`, offlineEnvironment(outdir));

      expect(result.status, explain(result)).toBe(0);
      expect(warnings(result.output)).toEqual([]);
      expect(result.stdout).toContain('AWS::SQS::Queue');
      expectCompleteAssembly(outdir);
    }, 180_000);
  });
});
