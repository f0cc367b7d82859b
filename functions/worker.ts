/**
 * The worker Lambda's entry point for this repository's example machines (infra/app.ts deploys it).
 * Your own is the same two lines over your registry.
 */
import { lambdaHandler } from '../runtime/index.ts';
import { registry } from '../machines/index.ts';

export const handler = lambdaHandler(registry);
