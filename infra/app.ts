import { App, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SettleStack } from './settle-stack.ts';

/**
 * The CDK app: `npx cdk synth | deploy | destroy`.
 * `-c destroyOnRemoval=true` makes the table, the buckets, the log groups and the callback secret go with the stack (dev,
 * LocalStack); CloudFormation deletes a bucket only once it is empty.
 */
const app = new App();
const destroyOnRemoval = String(app.node.tryGetContext('destroyOnRemoval') ?? 'false') === 'true';

new SettleStack(app, 'SettleStack', {
  service: destroyOnRemoval ? { removalPolicy: RemovalPolicy.DESTROY } : {},
});

// Synthesis fails on any unacknowledged AwsSolutions finding.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

app.synth();
